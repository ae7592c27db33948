// The process's compute environment, settled before any command runs: OpenMP threads that wait
// passively, and an OpenBLAS core that suits this CPU (harness/core/hardware.h decides, a GEMM
// against a float64 reference confirms). Both are read by their libraries when they load, so
// they are set in the environment and the binary re-executes itself once. --version reports
// the outcome.
#pragma once

#include <string>

namespace swavbench {

// Sets OMP_WAIT_POLICY=passive and, when OpenBLAS runs a generic core on a CPU that supports a
// better one, OPENBLAS_CORETYPE; re-executes the binary when either changed. A value the user
// set is never replaced. After a re-execution with a core of its own choosing, checks a float32
// GEMM against a float64 reference and falls back to OpenBLAS's own choice when they disagree.
// Call first thing in main (it may not return).
void settle_process_environment(char** argv);

// The OpenBLAS core in use (openblas_get_corename), "" when the BLAS is not OpenBLAS.
std::string openblas_core_in_use();

// One line on the OpenBLAS core and who chose it, with a warning naming the fix when it is a
// generic core; "" when the BLAS is not OpenBLAS.
std::string openblas_core_report();

// The CPU's float32 peak for `threads` cores, with its basis (the hardware.h rules).
std::string cpu_peak_report(int threads);

}  // namespace swavbench
