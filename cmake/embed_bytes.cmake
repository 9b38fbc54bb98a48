# Helpers of the scripts that embed files in C++ sources
# (cmake/embed_descriptors.cmake, edge/embed_web.cmake).

# Sets <bytes_var> to the bytes of `path` as a C array initializer (hex, so
# any content is safe; 16 bytes a line to keep compilers happy) and
# <size_var> to their count.
function(embed_bytes path bytes_var size_var)
  file(READ "${path}" hex HEX)
  string(LENGTH "${hex}" hex_len)
  math(EXPR size "${hex_len} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x..,){16})" "\\1\n" bytes "${bytes}")
  set(${bytes_var} "${bytes}" PARENT_SCOPE)
  set(${size_var} "${size}" PARENT_SCOPE)
endfunction()

# Writes `body` to `out` only when it differs, to avoid needless recompiles.
function(write_if_changed out body)
  if(EXISTS "${out}")
    file(READ "${out}" old)
    if(old STREQUAL body)
      return()
    endif()
  endif()
  file(WRITE "${out}" "${body}")
endfunction()
