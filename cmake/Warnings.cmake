# schedkit_warnings: an INTERFACE target every schedkit target links, so flags live in one place.
add_library(schedkit_warnings INTERFACE)
target_compile_options(schedkit_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
  -Woverloaded-virtual -Wimplicit-fallthrough -Wformat=2)
if(SCHEDKIT_WERROR)
  target_compile_options(schedkit_warnings INTERFACE -Werror)
endif()
