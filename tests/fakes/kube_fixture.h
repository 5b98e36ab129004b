#pragma once

// Everything a kube::Client needs in a unit test: simulated time (a SimSleeper advances the
// SimClock), pinned randomness, an in-memory filesystem, captured logs and a ScriptedTransport.

#include <memory>
#include <string>
#include <vector>

#include "fakes/fixed_random.h"
#include "fakes/kube_sim_sleeper.h"
#include "fakes/mem_filesystem.h"
#include "fakes/scripted_transport.h"
#include "schedkit/kube/client.h"

namespace schedkit {

struct KubeFakes {
  explicit KubeFakes(kube::ClientOptions opts = unlimited(), kube::Config cfg = config()) {
    auto t = std::make_unique<ScriptedTransport>();
    transport = t.get();
    client = std::make_unique<kube::Client>(
        std::move(cfg), std::move(t), kube::ClientDeps{clock, random, sleeper, fs, log}, opts);
  }

  static kube::Config config() {
    kube::Config c;
    c.server = "https://apiserver.test:6443";
    c.token = "secret-token";
    c.userAgent = "schedkit-test";
    return c;
  }
  // No client-side rate limit, so tests that are not about it see no sleeps from it.
  static kube::ClientOptions unlimited() {
    kube::ClientOptions o;
    o.qps = 0;
    return o;
  }

  SimClock clock;
  SimSleeper sleeper{clock};
  FixedRandom random{0};  // unit() == 0: backoff without jitter
  MemFilesystem fs;
  std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();
  Logger log{clock, [l = lines](std::string_view line) { l->emplace_back(line); }, LogFormat::kText,
             LogLevel::kDebug};
  ScriptedTransport* transport = nullptr;
  std::unique_ptr<kube::Client> client;
};

}  // namespace schedkit
