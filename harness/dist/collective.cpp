#include "harness/dist/collective.h"

#include <torch/torch.h>

namespace swavbench {

Collective& local_collective() {
  static LocalCollective instance;
  return instance;
}

}  // namespace swavbench
