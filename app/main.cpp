// swavbench's entry point: registers the methods and protocols of every library, then hands
// the command line to app/commands (run_cli). Nothing else lives here.
#include "baselines/register.h"
#include "evals/register.h"
#include "app/commands.h"
#include "harness/train/register.h"
#include "swav/register.h"

int main(int argc, char** argv) {
  swavbench::register_harness_methods();
  swavbench::register_swav_methods();
  swavbench::register_baseline_methods();
  swavbench::register_evals();
  return swavbench::run_cli(argc, argv);
}
