# Writes build_info.h with the current git sha (and "-dirty" when tracked files differ from it)
# at every build, not only at configure time, so runs never record a stale commit.
# configure_file rewrites the header only when its content changes, so an unchanged sha
# rebuilds nothing. Called as: cmake -DSRC=... -DOUT=... -DPROJECT_VERSION=... -P build_info.cmake
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
configure_file(${SRC}/harness/core/build_info.h.in ${OUT} @ONLY)
