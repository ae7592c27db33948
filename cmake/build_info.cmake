# Writes build_info_generated.h at every build, not only at configure time:
#  - the git sha (with "-dirty" when tracked files differ from it), so runs never record a stale
#    commit;
#  - the shared training code digest: sha256 over the path and content of every source in the
#    rooms every pretraining run's numbers depend on, whatever its method: data and
#    augmentation, models, the training loop and optimiser, the collectives, and core (config
#    defaults, seeds). The controls (supervised, random, pixels) live there too;
#  - one digest per source file of the method and protocol rooms: every top-level folder that
#    holds C++ sources and is not one of the rooms below that never change a number (app, tests,
#    bench, harness itself), plus harness/eval. A new method folder is picked up by this glob.
#    A run's hash combines the shared digest with its own method's files (MethodSpec::code,
#    method_code_digest in harness/core/method_spec.h); an evaluation result records its
#    protocol's files (ProtocolSpec::code). So editing MoCo never retrains SwAV, and editing a
#    protocol re-evaluates that protocol's results and retrains nothing.
# Reports, the store, the Lua layer, the CLI, the experiment runner and the profiler are in no
# digest. configure_file rewrites the header only when its content changes, so an unchanged sha
# and digests rebuild nothing. Called as:
#   cmake -DSRC=<source dir> -DOUT=<header> -DPROJECT_VERSION=<x.y.z> -P build_info.cmake
set(shared_training_rooms harness/core harness/data harness/dist harness/models harness/train)
# Top-level folders that hold no method or protocol code.
set(not_code_rooms app bench build cmake docs results scripts suite tests harness)

execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE SWAVBENCH_GIT_SHA OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT SWAVBENCH_GIT_SHA)
  set(SWAVBENCH_GIT_SHA "unknown")
else()
  execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                  OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  if(dirty)
    set(SWAVBENCH_GIT_SHA "${SWAVBENCH_GIT_SHA}-dirty")
  endif()
endif()

set(manifest "")
foreach(room ${shared_training_rooms})
  file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/${room}/*.cpp ${SRC}/${room}/*.h)
  list(SORT files)
  foreach(f ${files})
    file(SHA256 ${SRC}/${f} content_sha)
    string(APPEND manifest "${f} ${content_sha}\n")
  endforeach()
endforeach()
string(SHA256 digest "${manifest}")
string(SUBSTRING ${digest} 0 16 SWAVBENCH_SHARED_TRAINING_DIGEST)

# The method and protocol rooms: top-level folders with sources (build trees and hidden folders
# excluded), and harness/eval.
file(GLOB top_level RELATIVE ${SRC} ${SRC}/*)
set(code_rooms harness/eval)
foreach(entry ${top_level})
  if(IS_DIRECTORY ${SRC}/${entry} AND NOT entry MATCHES "^(\\.|build)")
    list(FIND not_code_rooms ${entry} excluded)
    if(excluded EQUAL -1)
      list(APPEND code_rooms ${entry})
    endif()
  endif()
endforeach()
set(code_files "")
foreach(room ${code_rooms})
  file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/${room}/*.cpp ${SRC}/${room}/*.h)
  list(APPEND code_files ${files})
endforeach()
list(SORT code_files)
set(SWAVBENCH_CODE_FILE_DIGESTS "")
foreach(f ${code_files})
  file(SHA256 ${SRC}/${f} content_sha)
  string(SUBSTRING ${content_sha} 0 16 short_sha)
  string(APPEND SWAVBENCH_CODE_FILE_DIGESTS "    {\"${f}\", \"${short_sha}\"},\n")
endforeach()

configure_file(${SRC}/harness/core/build_info_generated.h.in ${OUT} @ONLY)
