# Writes build_info_generated.h at every build, not only at configure time:
#  - the git sha (with "-dirty" when tracked files differ from it), so runs never record a stale
#    commit;
#  - the training code digest: sha256 over the path and content of every source that can change
#    a pretraining run's numbers. It is part of each run's hash (RunConfig::hash), so a run cached
#    by an older build of that code is retrained instead of silently reused. The rooms below are
#    those numbers come from: data and augmentation, models, the training loop and optimiser,
#    the collectives, the methods, and core (config defaults, seeds). Reports, the store, the Lua
#    layer, the CLI and the evaluation protocols are not part of it.
# configure_file rewrites the header only when its content changes, so an unchanged sha and
# digest rebuild nothing. Called as:
#   cmake -DSRC=<source dir> -DOUT=<header> -DPROJECT_VERSION=<x.y.z> -P build_info.cmake
set(training_code_rooms harness/core harness/data harness/dist harness/models harness/train
                        swav baselines)

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
foreach(room ${training_code_rooms})
  file(GLOB_RECURSE files RELATIVE ${SRC} ${SRC}/${room}/*.cpp ${SRC}/${room}/*.h)
  list(SORT files)
  foreach(f ${files})
    file(SHA256 ${SRC}/${f} content_sha)
    string(APPEND manifest "${f} ${content_sha}\n")
  endforeach()
endforeach()
string(SHA256 digest "${manifest}")
string(SUBSTRING ${digest} 0 16 SWAVBENCH_TRAINING_CODE_DIGEST)

configure_file(${SRC}/harness/core/build_info_generated.h.in ${OUT} @ONLY)
