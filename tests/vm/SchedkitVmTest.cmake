# schedkit_add_vm_test(): registers a ctest test that boots a sched_ext kernel in qemu
# (hack/vm/run.sh) and runs one guest script there. The test passes when the script exits 0.
#
#   schedkit_add_vm_test(<name>
#     SCRIPT <guest.sh>            POSIX sh (busybox) run as the guest's job
#     [ARGS <arg>...]              passed to the script
#     [KERNEL <series>]            6.18 (default), 6.16, 6.19, or a kernel cache dir
#     [BINARIES <path>...]         host binaries (+ their ldd libraries), at /usr/bin/<name>;
#                                  generator expressions welcome: $<TARGET_FILE:schedkit-agent>
#     [FILES <host>:<guest>...]    extra files or directories
#     [ENV <NAME=VALUE>...]        guest job environment
#     [NET]                        guest network (10.0.2.15; the host is 10.0.2.2)
#     [TIMEOUT <seconds>]          VM timeout (default 120); ctest's own timeout allows for a
#                                  first-time kernel download on top
#     [LABELS <label>...])         default "vm"; give the full list to override (e.g. "soak")
#
# Every test also gets tests/vm/guest/lib.sh at /schedkit/tests/lib.sh. Tests need 2 CPUs
# (PROCESSORS 2) so `ctest -j` does not pile TCG guests onto a small machine.
include_guard(GLOBAL)

set(SCHEDKIT_VM_RUN ${CMAKE_CURRENT_LIST_DIR}/../../hack/vm/run.sh)
cmake_path(NORMAL_PATH SCHEDKIT_VM_RUN)
set(_schedkit_vm_guest_lib ${CMAKE_CURRENT_LIST_DIR}/guest/lib.sh)

function(schedkit_add_vm_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NET" "SCRIPT;KERNEL;TIMEOUT"
                        "ARGS;BINARIES;FILES;ENV;LABELS")
  if(NOT arg_SCRIPT)
    message(FATAL_ERROR "schedkit_add_vm_test(${name}): SCRIPT is required")
  endif()
  cmake_path(ABSOLUTE_PATH arg_SCRIPT NORMALIZE)
  if(NOT arg_KERNEL)
    set(arg_KERNEL 6.18)
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 120)
  endif()
  if(NOT arg_LABELS)
    set(arg_LABELS vm)
  endif()

  set(cmd ${SCHEDKIT_VM_RUN} --kernel ${arg_KERNEL} --timeout ${arg_TIMEOUT}
      --file ${_schedkit_vm_guest_lib}:/schedkit/tests/lib.sh)
  foreach(bin IN LISTS arg_BINARIES)
    list(APPEND cmd --bin ${bin})
  endforeach()
  foreach(file IN LISTS arg_FILES)
    list(APPEND cmd --file ${file})
  endforeach()
  foreach(env IN LISTS arg_ENV)
    list(APPEND cmd --env ${env})
  endforeach()
  if(arg_NET)
    list(APPEND cmd --net)
  endif()
  add_test(NAME ${name} COMMAND ${cmd} -- ${arg_SCRIPT} ${arg_ARGS})

  math(EXPR ctest_timeout "${arg_TIMEOUT} + 180")
  set(env)
  if(DEFINED SCHEDKIT_CACHE)
    list(APPEND env SCHEDKIT_CACHE=${SCHEDKIT_CACHE})
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${ctest_timeout}
                       PROCESSORS 2 ENVIRONMENT "${env}")
endfunction()
