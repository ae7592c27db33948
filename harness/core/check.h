// Error types and check macros that carry file and line.
//
//   SB_CHECK(cond, fmt, args...)        internal invariant; throws swavbench::Error
//   SB_INPUT_CHECK(cond, fmt, args...)  user input (config, scripts, data files); throws InputError
//
// The CLI maps InputError to exit code 2 and every other failure of a run to exit code 1.
#pragma once

#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace swavbench {

// A failure of the program or of a run (exit code 1).
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input from the user: a script, a config key, a data file (exit code 2).
class InputError : public Error {
 public:
  using Error::Error;
};

[[noreturn]] inline void fail_check(const char* file, int line, const char* cond,
                                    const std::string& message) {
  throw Error(fmt::format("{}:{}: check failed: {}: {}", file, line, cond, message));
}

}  // namespace swavbench

#define SB_CHECK(cond, ...)                                                                    \
  do {                                                                                         \
    if (!(cond)) ::swavbench::fail_check(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)

#define SB_INPUT_CHECK(cond, ...)                                         \
  do {                                                                    \
    if (!(cond)) throw ::swavbench::InputError(fmt::format(__VA_ARGS__)); \
  } while (0)
