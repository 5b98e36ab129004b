# BPF objects and their libbpf skeletons.
#
#   bpf_vmlinux_h(<series>)   once, before any bpf_object(): generate vmlinux.h at build time from
#                             the BTF of a Debian sched_ext kernel (hack/vm/fetch-kernel.sh +
#                             gen-vmlinux.sh), into ${CMAKE_BINARY_DIR}/bpf/vmlinux/vmlinux.h
#   bpf_object(<name> <src.bpf.c> [INCLUDES <dir>...] [SKEL_PRELUDE <header>...])
#       → ${CMAKE_CURRENT_BINARY_DIR}/<name>.bpf.o     clang -target bpf, DWARF stripped, BTF kept
#       → ${CMAKE_CURRENT_BINARY_DIR}/skel/<name>.skel.h   bpftool gen skeleton (struct <name>)
#       → target <name>_skel: INTERFACE library carrying the skeleton's include dirs; its property
#         BPF_OBJECT holds the .bpf.o path (for tests and for installing the object itself)
#     SKEL_PRELUDE headers are #included at the top of the skeleton, for the types of globals
#     the skeleton spells out (e.g. exit_info.h for `uei`).
#
# Objects see: the generated vmlinux.h, bpf/include, bpf/shared and INCLUDES.
include_guard(GLOBAL)

find_program(SCHEDKIT_BPF_CLANG NAMES clang-19 clang REQUIRED)
find_program(SCHEDKIT_BPF_STRIP NAMES llvm-strip-19 llvm-strip REQUIRED)
find_program(SCHEDKIT_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
set(SCHEDKIT_BPF_KERNEL 6.18 CACHE STRING
    "Kernel series whose BTF generates vmlinux.h for BPF objects (6.16, 6.18, 6.19)")

set(_bpf_root ${CMAKE_CURRENT_LIST_DIR}/..)

# Skeletons from bpftool 7.5 set bpf_map_skeleton.link (libbpf >= 1.5, auto-attached
# struct_ops). libbpf-dev 1.4 lacks the field: drop those lines and attach struct_ops maps
# explicitly with bpf_map__attach_struct_ops().
find_path(_bpf_libbpf_include bpf/libbpf.h REQUIRED)
file(READ ${_bpf_libbpf_include}/bpf/libbpf.h _bpf_libbpf_h)
string(REGEX MATCH "struct bpf_map_skeleton {[^}]*struct bpf_link \\*\\*link;" _bpf_has_link
       "${_bpf_libbpf_h}")
if(_bpf_has_link)
  set(_bpf_skel_filter "cat")
else()
  set(_bpf_skel_filter "sed '/^[[:space:]]*map->link = /d'")
endif()
unset(_bpf_libbpf_h)

function(bpf_vmlinux_h series)
  set(dir ${CMAKE_BINARY_DIR}/bpf/vmlinux)
  set(out ${dir}/vmlinux.h)
  if(NOT DEFINED SCHEDKIT_CACHE)
    set(SCHEDKIT_CACHE $ENV{HOME}/.cache/schedkit)
  endif()
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E env SCHEDKIT_CACHE=${SCHEDKIT_CACHE}
            ${_bpf_root}/hack/vm/gen-vmlinux.sh ${series} ${out}
    COMMAND ${CMAKE_COMMAND} -E touch ${out}
    DEPENDS ${_bpf_root}/hack/vm/gen-vmlinux.sh ${_bpf_root}/hack/vm/fetch-kernel.sh
            ${_bpf_root}/hack/vm/lib.sh
    COMMENT "Generating vmlinux.h from the ${series} kernel's BTF"
    VERBATIM)
  add_custom_target(bpf_vmlinux_h DEPENDS ${out})
  set_property(GLOBAL PROPERTY SCHEDKIT_BPF_VMLINUX_H ${out})
endfunction()

function(bpf_object name src)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "INCLUDES;SKEL_PRELUDE")
  get_property(vmlinux_h GLOBAL PROPERTY SCHEDKIT_BPF_VMLINUX_H)
  if(NOT vmlinux_h)
    message(FATAL_ERROR "bpf_object(${name}): call bpf_vmlinux_h() first")
  endif()
  cmake_path(ABSOLUTE_PATH src NORMALIZE)
  get_filename_component(vmlinux_dir ${vmlinux_h} DIRECTORY)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel_dir ${CMAKE_CURRENT_BINARY_DIR}/skel)
  set(skel ${skel_dir}/${name}.skel.h)

  set(flags -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_x86 -Wall -Wno-missing-declarations)
  if(SCHEDKIT_WERROR)
    list(APPEND flags -Werror)
  endif()
  set(includes -I${vmlinux_dir} -I${_bpf_root}/bpf/include -I${_bpf_root}/bpf/shared)
  foreach(dir IN LISTS arg_INCLUDES)
    cmake_path(ABSOLUTE_PATH dir NORMALIZE)
    list(APPEND includes -I${dir})
  endforeach()

  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${SCHEDKIT_BPF_CLANG} ${flags} ${includes} -MD -MF ${obj}.d -MT ${obj} -c ${src} -o ${obj}.tmp
    # DWARF only bloats the object and the skeleton that embeds it; BTF (kept) is what libbpf needs.
    COMMAND ${SCHEDKIT_BPF_STRIP} -g -o ${obj} ${obj}.tmp
    COMMAND ${CMAKE_COMMAND} -E rm -f ${obj}.tmp
    DEPENDS ${src} ${vmlinux_h}
    DEPFILE ${obj}.d
    COMMENT "BPF object ${name}.bpf.o"
    VERBATIM)

  set(prelude "")
  foreach(h IN LISTS arg_SKEL_PRELUDE)
    if(h MATCHES "^<")
      string(APPEND prelude "#include ${h}\n")
    else()
      string(APPEND prelude "#include \"${h}\"\n")
    endif()
  endforeach()
  file(WRITE ${skel_dir}/${name}.prelude.h.in "${prelude}")
  configure_file(${skel_dir}/${name}.prelude.h.in ${skel_dir}/${name}.prelude.h COPYONLY)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND sh -c "set -e; \"$0\" gen skeleton \"$1\" name \"$2\" >\"$4.gen\"; \
{ cat \"$3\"; ${_bpf_skel_filter} \"$4.gen\"; } >\"$4\"; rm -f \"$4.gen\""
            ${SCHEDKIT_BPFTOOL} ${obj} ${name} ${skel_dir}/${name}.prelude.h ${skel}
    DEPENDS ${obj} ${skel_dir}/${name}.prelude.h
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)

  add_custom_target(${name}_bpf ALL DEPENDS ${obj} ${skel})
  add_dependencies(${name}_bpf bpf_vmlinux_h)
  add_library(${name}_skel INTERFACE)
  target_include_directories(${name}_skel INTERFACE ${skel_dir} ${_bpf_root}/bpf/shared)
  set_target_properties(${name}_skel PROPERTIES BPF_OBJECT ${obj})
  add_dependencies(${name}_skel ${name}_bpf)
endfunction()
