# The sanitizer build (CMakePresets.json "sanitize"; scripts/test-sanitize.sh runs it in CI).
#
# Built with clang; all but fuzz_checkpoint without LibTorch:
#   sanitized_core          every torch-free source of harness/, evals/, swav/ and baselines/
#                           (the same scan as the PCH rule, cmake/uses_torch.cmake), with ASan +
#                           UBSan; tests/fuzz/builtin_specs.cpp registers the methods' specs
#   sanitized_unit_tests    every torch-free unit test (tests/unit), linked against it
#   fuzz_<name>             one libFuzzer target per parser of outside input (tests/fuzz)
#   fuzz_checkpoint         the checkpoint reader (tests/fuzz/torch), linked against LibTorch
# CTest runs the unit tests and each fuzz target for SWAVBENCH_FUZZ_SECONDS on a copy of its
# committed seed corpus plus its committed regression inputs (tests/fuzz/<name>/).
# fmt, CLI11, nlohmann-json, Lua, SQLite, libturbojpeg, libpng, pugixml, zlib and Threads are
# found by the top-level CMakeLists.txt before it includes this file.
find_package(GTest REQUIRED)
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "SWAVBENCH_SANITIZE needs clang (libFuzzer): configure with --preset sanitize")
endif()
set(SWAVBENCH_FUZZ_SECONDS 10 CACHE STRING "seconds each fuzz target runs under CTest")

include(${CMAKE_SOURCE_DIR}/cmake/uses_torch.cmake)
# The sources among ARGN that include no torch header, directly or through ours.
function(swavbench_torch_free out)
  set(result "")
  foreach(src ${ARGN})
    swavbench_uses_torch(${src} uses_torch)
    if(NOT uses_torch)
      list(APPEND result ${src})
    endif()
  endforeach()
  set(${out} ${result} PARENT_SCOPE)
endfunction()
set(sanitizers -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

file(GLOB_RECURSE candidates CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/harness/*.cpp
     ${CMAKE_SOURCE_DIR}/evals/*.cpp ${CMAKE_SOURCE_DIR}/swav/*.cpp ${CMAKE_SOURCE_DIR}/baselines/*.cpp)
swavbench_torch_free(torch_free_sources ${candidates})
add_library(sanitized_core STATIC ${torch_free_sources})
add_dependencies(sanitized_core build_info)
target_include_directories(sanitized_core PUBLIC ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/generated)
target_compile_options(sanitized_core PUBLIC ${sanitizers})
target_link_options(sanitized_core PUBLIC ${sanitizers})
target_compile_definitions(sanitized_core PUBLIC
  SWAVBENCH_INSTALL_SUITE_DIR="${CMAKE_INSTALL_PREFIX}/share/swavbench/suite")
target_link_libraries(sanitized_core PUBLIC fmt::fmt nlohmann_json::nlohmann_json CLI11::CLI11
                      PkgConfig::LUA PkgConfig::SQLITE PkgConfig::TURBOJPEG PkgConfig::PNG
                      pugixml::pugixml ZLIB::ZLIB Threads::Threads)

enable_testing()
file(GLOB unit_tests CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/test_*.cpp)
swavbench_torch_free(torch_free_tests ${unit_tests})
add_executable(sanitized_unit_tests ${torch_free_tests}
               ${CMAKE_SOURCE_DIR}/tests/fuzz/builtin_specs.cpp)
target_link_libraries(sanitized_unit_tests PRIVATE sanitized_core GTest::gtest_main)
target_compile_definitions(sanitized_unit_tests PRIVATE
  SWAVBENCH_TEST_PYTHON="/usr/bin/python3" SWAVBENCH_CMAKE_COMMAND="${CMAKE_COMMAND}")
add_test(NAME sanitized.unit COMMAND sanitized_unit_tests)
set_tests_properties(sanitized.unit PROPERTIES LABELS sanitize TIMEOUT 900
                     ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1;UBSAN_OPTIONS=print_stacktrace=1")

file(GLOB fuzz_sources CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.cpp)
foreach(src ${fuzz_sources})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/builtin_specs.cpp)
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE sanitized_core)
  string(REGEX REPLACE "^fuzz_" "" corpus ${name})
  add_test(NAME fuzz.${corpus}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/run_fuzzer.sh $<TARGET_FILE:${name}>
                   ${CMAKE_SOURCE_DIR}/tests/fuzz/${corpus} ${SWAVBENCH_FUZZ_SECONDS})
  set_tests_properties(fuzz.${corpus} PROPERTIES LABELS fuzz TIMEOUT 600)
endforeach()

# The checkpoint reader's validation (harness/train/checkpoint.cpp) needs LibTorch: one fuzz
# target built with clang against Debian's LibTorch (built with gcc; the same libstdc++ ABI).
# Only our sources are instrumented, LibTorch is not, so a fault inside LibTorch's own readers
# shows as a crash, not as a sanitizer report.
find_package(Torch REQUIRED)
add_executable(fuzz_checkpoint ${CMAKE_SOURCE_DIR}/tests/fuzz/torch/fuzz_checkpoint.cpp
               ${CMAKE_SOURCE_DIR}/harness/train/checkpoint.cpp
               ${CMAKE_SOURCE_DIR}/harness/train/optim.cpp)
target_compile_options(fuzz_checkpoint PRIVATE -fsanitize=fuzzer)
target_link_options(fuzz_checkpoint PRIVATE -fsanitize=fuzzer)
target_link_libraries(fuzz_checkpoint PRIVATE sanitized_core torch)
add_test(NAME fuzz.checkpoint
         COMMAND bash ${CMAKE_SOURCE_DIR}/tests/fuzz/run_fuzzer.sh $<TARGET_FILE:fuzz_checkpoint>
                 ${CMAKE_SOURCE_DIR}/tests/fuzz/checkpoint ${SWAVBENCH_FUZZ_SECONDS})
# LibTorch's zip reader leaks when it rejects an archive; lsan.supp suppresses leaks in LibTorch
# only.
set_tests_properties(
  fuzz.checkpoint PROPERTIES LABELS fuzz TIMEOUT 600 ENVIRONMENT
  "LSAN_OPTIONS=suppressions=${CMAKE_SOURCE_DIR}/tests/fuzz/checkpoint/lsan.supp")
