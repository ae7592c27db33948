# swavbench_uses_torch(SRC OUT): sets OUT to TRUE when SRC includes a LibTorch header, directly
# or through the project's own headers ("harness/...", resolved against the source root).
#
# Why it matters: a translation unit that reaches torch only through a project header and is
# compiled without the precompiled header parses all of LibTorch again (about 20 s of a 2-core
# build per file). A file that never reaches torch skips the PCH, so it does not load 300 MB of
# it. Results are cached per header in global properties for the configure run.
function(swavbench_uses_torch src out)
  get_property(known GLOBAL PROPERTY "swavbench_uses_torch:${src}" SET)
  if(known)
    get_property(result GLOBAL PROPERTY "swavbench_uses_torch:${src}")
    set(${out} ${result} PARENT_SCOPE)
    return()
  endif()
  # Mark first: a header cycle then ends here instead of recursing forever.
  set_property(GLOBAL PROPERTY "swavbench_uses_torch:${src}" FALSE)
  set(result FALSE)
  file(STRINGS ${src} torch_include REGEX "^#include <(torch|ATen|c10)/" LIMIT_COUNT 1)
  if(torch_include)
    set(result TRUE)
  else()
    file(STRINGS ${src} project_includes REGEX "^#include \"[^\"]+\"")
    foreach(line ${project_includes})
      string(REGEX REPLACE "^#include \"([^\"]+)\".*" "\\1" header "${line}")
      get_filename_component(dir ${src} DIRECTORY)
      set(path "")
      foreach(candidate ${CMAKE_SOURCE_DIR}/${header} ${dir}/${header})
        if(path STREQUAL "" AND EXISTS ${candidate})
          set(path ${candidate})
        endif()
      endforeach()
      if(NOT path STREQUAL "")
        swavbench_uses_torch(${path} header_uses_torch)
        if(header_uses_torch)
          set(result TRUE)
          break()
        endif()
      endif()
    endforeach()
  endif()
  set_property(GLOBAL PROPERTY "swavbench_uses_torch:${src}" ${result})
  set(${out} ${result} PARENT_SCOPE)
endfunction()
