// Shared by the libFuzzer targets (tests/fuzz/fuzz_*.cpp, built by cmake/sanitize.cmake).
//
// A parser of outside input passes when, for any bytes, it returns or throws swavbench::Error
// (InputError: the message a user sees, exit 2). Anything else is a finding: a crash or
// sanitizer report, a hang, or any other exception (a JSON library's type_error, std::out_of_range
// ...), which escapes LLVMFuzzerTestOneInput and aborts the run.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <string>

#include "harness/core/check.h"

namespace swavbench::fuzz {

// A folder of this process's own, made once (removed by run_fuzzer.sh's temporary parent).
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    const char* parent = std::getenv("SWAVBENCH_FUZZ_SCRATCH");
    std::string pattern = std::string(parent != nullptr ? parent : "/tmp") + "/fuzz.XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    return pattern;
  }();
  return dir;
}

// Writes the input to `name` inside scratch_dir() and returns the path.
inline std::string write_input(const std::string& name, const uint8_t* data, size_t size) {
  const std::string path = scratch_dir() + "/" + name;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `parse`; swavbench::Error is the documented answer to bad input.
template <typename Parse>
void expect_parse_or_error(Parse&& parse) {
  try {
    parse();
  } catch (const Error&) {
  }
}

}  // namespace swavbench::fuzz
