#pragma once

// Real dependencies for kube::Client in integration tests: real time, real randomness, the
// real filesystem, and a client for the test control plane's admin or any minted kubeconfig.

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "schedkit/kube/client.h"
#include "schedkit/os/filesystem.h"
#include "testenv.h"

namespace schedkit::testenv {

struct RealKube {
  RealClock clock;
  RealRandom random;
  kube::RealSleeper sleeper;
  HostFilesystem fs{"/"};
  Logger log{Logger::stderrLogger(clock, LogFormat::kText, LogLevel::kWarn)};

  kube::ClientDeps deps() { return {clock, random, sleeper, fs, log}; }

  // The admin (system:masters) client, from the fields of the env file.
  std::unique_ptr<kube::Client> admin(kube::ClientOptions opts = fast()) {
    kube::Config c;
    c.server = KubeTestenv::get().url();
    c.tls = KubeTestenv::get().adminTls();
    c.source = "testenv admin";
    return make(std::move(c), opts);
  }

  // A client from a kubeconfig file, as users configure the agent.
  std::unique_ptr<kube::Client> fromKubeconfig(const std::string& path,
                                               kube::ClientOptions opts = fast()) {
    auto c = kube::loadKubeconfig(fs, path);
    EXPECT_TRUE(c.isOk()) << c.status().toString();
    if (!c.isOk()) return nullptr;
    return make(std::move(c).value(), opts);
  }

  std::unique_ptr<kube::Client> make(kube::Config c, kube::ClientOptions opts) {
    auto client = kube::Client::create(std::move(c), deps(), opts);
    EXPECT_TRUE(client.isOk()) << client.status().toString();
    return client.isOk() ? std::move(client).value() : nullptr;
  }

  // Tests are not about the rate limit unless they say so.
  static kube::ClientOptions fast() {
    kube::ClientOptions o;
    o.qps = 200;
    o.burst = 400;
    return o;
  }
};

// A name no earlier run used: DNS-1123, unique per process and call.
inline std::string uniqueName(const std::string& prefix) {
  static std::atomic<int> n{0};
  auto t = std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
               .count() %
           100000000;
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(t) + "-" +
         std::to_string(n++);
}

// Polls cond (integration tests only) until it holds or the time is up.
template <typename F>
bool eventually(F cond, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return cond();
}

// Prints a measured figure so ctest logs (and docs/kube-client.md) can quote it.
inline void report(const std::string& what, double value, const std::string& unit) {
  std::cout << "[measure] " << what << ": " << value << " " << unit << std::endl;
  ::testing::Test::RecordProperty(what, std::to_string(value) + " " + unit);
}

}  // namespace schedkit::testenv
