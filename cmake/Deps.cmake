# Finds every third-party dependency once. hack/deps.sh installs them (Debian bookworm, plus
# bookworm-backports for libbpf; prometheus-cpp built into the schedkit cache).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)

if(NOT DEFINED SCHEDKIT_CACHE)
  if(DEFINED ENV{SCHEDKIT_CACHE})
    set(SCHEDKIT_CACHE $ENV{SCHEDKIT_CACHE})
  elseif(DEFINED ENV{XDG_CACHE_HOME})
    set(SCHEDKIT_CACHE $ENV{XDG_CACHE_HOME}/schedkit)
  else()
    set(SCHEDKIT_CACHE $ENV{HOME}/.cache/schedkit)
  endif()
endif()
list(APPEND CMAKE_PREFIX_PATH ${SCHEDKIT_CACHE}/prometheus-cpp-1.0.2)
# prometheus-cpp's pull library is built against Debian's civetweb (hack/deps.sh).
find_package(prometheus-cpp CONFIG REQUIRED)

if(SCHEDKIT_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
