// swavbench's entry point: registers the methods and protocols of every library, then hands
// the command line to app/commands (run_cli). Nothing else lives here.
#include "app/commands.h"
#include "app/registry.h"

int main(int argc, char** argv) {
  swavbench::register_builtins();
  return swavbench::run_cli(argc, argv);
}
