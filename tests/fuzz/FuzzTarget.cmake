# Helpers for the libFuzzer targets (clang only; tests/fuzz/CMakeLists.txt checks that).
#   schedkit_fuzz_instrument(<target>)  coverage + ASan/UBSan on a library and what links it
#   schedkit_fuzz_library(<name> <of> [INCLUDE_DIRS...])
#                                        an instrumented copy of library <of>'s sources (the
#                                        library itself stays plain); a second call is a no-op
#   schedkit_fuzz_target(<name> SOURCE <file.cc> LIBS <libs> CORPUS <dir>)
#                                        a libFuzzer binary and a ctest (label fuzz) that runs it
#                                        for SCHEDKIT_FUZZ_SECONDS from the seed corpus
include_guard(GLOBAL)
set(SCHEDKIT_FUZZ_SECONDS 20 CACHE STRING "How long each fuzz ctest runs")

function(schedkit_fuzz_instrument name)
  target_compile_options(${name} PUBLIC -fsanitize=fuzzer-no-link,address,undefined
    -fno-sanitize-recover=undefined)
  target_link_options(${name} PUBLIC -fsanitize=address,undefined)
endfunction()

function(schedkit_fuzz_library name of)
  if(TARGET ${name})
    return()
  endif()
  get_target_property(srcs ${of} SOURCES)
  get_target_property(dir ${of} SOURCE_DIR)
  list(TRANSFORM srcs PREPEND ${dir}/)
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/lib/include ${ARGN})
  schedkit_fuzz_instrument(${name})
endfunction()

function(schedkit_fuzz_target name)
  cmake_parse_arguments(F "" "SOURCE;CORPUS" "LIBS" ${ARGN})
  add_executable(${name} ${F_SOURCE})
  target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_options(${name} PRIVATE -fsanitize=fuzzer)
  target_link_libraries(${name} PRIVATE ${F_LIBS})
  add_dependencies(fuzz_targets ${name})
  set(work ${CMAKE_CURRENT_BINARY_DIR}/corpus-${name})
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -E env ASAN_OPTIONS=detect_leaks=1
            sh -c "mkdir -p '${work}' && exec \"$0\" -max_total_time=${SCHEDKIT_FUZZ_SECONDS} -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 '${work}' '${F_CORPUS}'"
            $<TARGET_FILE:${name}>)
  set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()
