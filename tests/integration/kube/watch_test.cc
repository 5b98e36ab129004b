// The watch state machine and the informer against the real kube-apiserver: list+watch,
// bookmarks, an apiserver restart mid-watch, and etcd compaction + restart forcing 410 Gone.

#include "schedkit/kube/watch.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "kube_helpers.h"
#include "schedkit/kube/informer.h"

namespace schedkit::kube {
namespace {

using testenv::eventually;
using testenv::KubeTestenv;
using testenv::RealKube;
using testenv::report;
using testenv::uniqueName;
using namespace std::chrono_literals;

Json cm(const std::string& name, const std::string& value) {
  return {{"metadata", {{"name", name}}}, {"data", {{"v", value}}}};
}

void ensureNamespace(Client& c, const std::string& ns) {
  auto r = c.create(resources::kNamespaces, "", {{"metadata", {{"name", ns}}}});
  ASSERT_TRUE(r.isOk() || isAlreadyExists(r.status())) << r.status().toString();
}

// What the handlers were told, in order, thread-safe.
struct Journal {
  std::mutex mu;
  std::vector<std::string> lines;                // "add a 5"
  std::map<std::string, std::vector<long>> rvs;  // name → resourceVersions delivered
  std::set<std::string> present;
  int duplicate_adds = 0;

  Informer::Handlers handlers() {
    return {.onAdd = [this](const Json& o) { note("add", o); },
            .onUpdate = [this](const Json&, const Json& o) { note("update", o); },
            .onDelete = [this](const Json& o) { note("delete", o); }};
  }
  void note(const std::string& what, const Json& o) {
    std::lock_guard lk(mu);
    std::string name = o["metadata"]["name"];
    std::string rv = resourceVersionOf(o);
    lines.push_back(what + " " + name + " " + rv);
    if (what == "add" && present.count(name)) ++duplicate_adds;
    if (what == "delete") {
      present.erase(name);
    } else {
      present.insert(name);
      rvs[name].push_back(std::stol(rv));
    }
  }
  bool saw(const std::string& line) {
    std::lock_guard lk(mu);
    return std::find(lines.begin(), lines.end(), line) != lines.end();
  }
  bool sawPrefix(const std::string& prefix) {
    std::lock_guard lk(mu);
    for (const auto& l : lines) {
      if (l.rfind(prefix, 0) == 0) return true;
    }
    return false;
  }
};

class KubeWatchIT : public ::testing::Test {
 protected:
  RealKube real;
  std::unique_ptr<Client> c = real.admin();
};

TEST_F(KubeWatchIT, InformerListsThenWatchesAddsUpdatesAndDeletes) {
  const std::string ns = uniqueName("inf");
  ensureNamespace(*c, ns);
  for (const char* n : {"a", "b", "c"}) {
    ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm(n, "0")).isOk());
  }
  ReflectorOptions o;
  o.ns = ns;
  Informer inf(*c, resources::kConfigMaps, o, Informer::dispatchInline());
  Journal j;
  inf.addHandlers(j.handlers());
  inf.start();
  ASSERT_TRUE(eventually([&] { return inf.hasSynced(); }));
  EXPECT_EQ(inf.size(), 3u);
  EXPECT_TRUE(j.sawPrefix("add a ") && j.sawPrefix("add b ") && j.sawPrefix("add c "));
  ASSERT_TRUE(eventually([&] { return inf.state() == WatchState::kWatching; }));

  auto d = c->create(resources::kConfigMaps, ns, cm("d", "0"));
  ASSERT_TRUE(d.isOk());
  auto a = c->get(resources::kConfigMaps, ns, "a");
  (*a)["data"]["v"] = "1";
  auto a2 = c->update(resources::kConfigMaps, *a);
  ASSERT_TRUE(a2.isOk());
  ASSERT_TRUE(c->remove(resources::kConfigMaps, ns, "b").isOk());
  EXPECT_TRUE(eventually([&] { return j.saw("add d " + resourceVersionOf(*d)); }));
  EXPECT_TRUE(eventually([&] { return j.saw("update a " + resourceVersionOf(*a2)); }));
  EXPECT_TRUE(eventually([&] { return j.sawPrefix("delete b "); }));
  EXPECT_EQ(inf.size(), 3u);
  EXPECT_EQ((*inf.get(ns + "/a"))["data"]["v"], "1");
  EXPECT_EQ(inf.get(ns + "/b"), nullptr);
  inf.stop();
  EXPECT_EQ(inf.state(), WatchState::kStopped);
  EXPECT_EQ(j.duplicate_adds, 0);
}

// Compaction + restart: the watch from the old version gets 410, the reflector re-lists and
// reports exactly what changed while it was away.
TEST_F(KubeWatchIT, CompactionAndRestartGiveGoneAndARelistWithCorrectDeltas) {
  const std::string ns = uniqueName("gone");
  ensureNamespace(*c, ns);
  ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm("a", "0")).isOk());
  ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm("b", "0")).isOk());
  ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm("same", "0")).isOk());
  std::mutex mu;
  std::vector<std::string> deltas;
  ReflectorOptions o;
  o.ns = ns;
  Reflector r(*c, resources::kConfigMaps, o, [&](std::vector<Delta> ds, bool) {
    std::lock_guard lk(mu);
    for (const auto& d : ds) {
      deltas.push_back(std::string(deltaTypeName(d.type)) + " " +
                       (*d.object)["metadata"]["name"].get<std::string>());
    }
  });
  ASSERT_EQ(r.step(), Duration::zero());
  ASSERT_EQ(r.state(), WatchState::kWatching);
  std::string old_rv = r.resourceVersion();
  deltas.clear();

  // While nobody watches: a changes, b goes, c arrives; then history is compacted away and the
  // watch cache starts over.
  auto a = c->get(resources::kConfigMaps, ns, "a");
  (*a)["data"]["v"] = "1";
  ASSERT_TRUE(c->update(resources::kConfigMaps, *a).isOk());
  ASSERT_TRUE(c->remove(resources::kConfigMaps, ns, "b").isOk());
  ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm("c", "0")).isOk());
  KubeTestenv::get().compactEtcd();
  KubeTestenv::get().restartApiserver();

  // The watch from old_rv: 410 (HTTP or ERROR event) → Empty, at once.
  Duration wait = r.step();
  EXPECT_EQ(r.state(), WatchState::kEmpty) << watchStateName(r.state());
  EXPECT_EQ(wait, Duration::zero());
  EXPECT_EQ(r.stats().relists, 1u);
  EXPECT_TRUE(deltas.empty());
  ASSERT_EQ(r.step(), Duration::zero());  // the re-list
  EXPECT_EQ(r.state(), WatchState::kWatching);
  EXPECT_NE(r.resourceVersion(), old_rv);
  {
    std::lock_guard lk(mu);
    EXPECT_EQ(deltas, (std::vector<std::string>{"Updated a", "Added c", "Deleted b"}));
    deltas.clear();
  }
  // And it watches on from the new list.
  std::thread th([&] {
    while (r.state() != WatchState::kStopped) {
      Duration d = r.step();
      if (d > Duration::zero()) real.sleeper.sleepFor(d, r.cancelToken());
    }
  });
  ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm("d", "0")).isOk());
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lk(mu);
    return deltas == std::vector<std::string>{"Added d"};
  }));
  r.stop();
  th.join();
}

// An apiserver restart in the middle of a stream of writes: the informer resumes (or re-lists
// after 410) and its handlers see every object's versions in order, none twice, none lost.
TEST_F(KubeWatchIT, ApiserverRestartMidWatchLosesAndDuplicatesNothing) {
  const std::string ns = uniqueName("restart");
  ensureNamespace(*c, ns);
  const int kObjects = 5;
  for (int i = 0; i < kObjects; ++i) {
    ASSERT_TRUE(c->create(resources::kConfigMaps, ns, cm("o" + std::to_string(i), "0")).isOk());
  }
  ReflectorOptions o;
  o.ns = ns;
  Informer inf(*c, resources::kConfigMaps, o, Informer::dispatchInline());
  Journal j;
  inf.addHandlers(j.handlers());
  inf.start();
  ASSERT_TRUE(eventually([&] { return inf.hasSynced(); }));

  // A writer that keeps updating the objects, through the restart (failed writes are skipped).
  std::atomic<bool> writing{true};
  std::atomic<int> ok_writes{0};
  std::mutex wmu;
  std::map<std::string, std::string> last_written;  // name → rv the server returned
  std::thread writer([&] {
    RealKube wreal;
    kube::ClientOptions wo = RealKube::fast();
    wo.maxRetries = 0;
    wo.requestTimeout = 2s;
    auto w = wreal.admin(wo);
    for (int i = 0; writing; ++i) {
      std::string name = "o" + std::to_string(i % kObjects);
      auto r = w->patch(resources::kConfigMaps, ns, name, PatchType::kMerge,
                        {{"data", {{"v", std::to_string(i)}}}});
      if (r.isOk()) {
        ++ok_writes;
        std::lock_guard lk(wmu);
        last_written[name] = resourceVersionOf(*r);
      }
      std::this_thread::sleep_for(20ms);
    }
  });
  struct Join {
    std::atomic<bool>& flag;
    std::thread& t;
    ~Join() {
      flag = false;
      if (t.joinable()) t.join();
    }
  } join_writer{writing, writer};
  ASSERT_TRUE(eventually([&] { return ok_writes > 20; }));
  auto restart_start = std::chrono::steady_clock::now();
  KubeTestenv::get().restartApiserver();
  auto ready = std::chrono::steady_clock::now();
  // How soon after the apiserver is ready does a new change reach the handlers?
  auto marker = c->create(resources::kConfigMaps, ns, cm("marker", "0"));
  ASSERT_TRUE(marker.isOk()) << marker.status().toString();
  ASSERT_TRUE(eventually([&] { return j.sawPrefix("add marker "); }, 60s));
  auto seen = std::chrono::steady_clock::now();
  int before = ok_writes;
  ASSERT_TRUE(eventually([&] { return ok_writes > before + 20; }));
  writing = false;
  writer.join();

  // Quiescence: the cache equals the server's list, version for version.
  auto server = c->listAll(resources::kConfigMaps, ns);
  ASSERT_TRUE(server.isOk());
  auto matches = [&] {
    if (inf.size() != server->items.size()) return false;
    for (const auto& item : server->items) {
      auto mine = inf.get(objectKey(item));
      if (!mine || resourceVersionOf(*mine) != resourceVersionOf(item)) return false;
    }
    return true;
  };
  EXPECT_TRUE(eventually(matches)) << "informer cache never matched the server";
  inf.stop();

  std::lock_guard lk(j.mu);
  EXPECT_EQ(j.duplicate_adds, 0);
  for (const auto& [name, rvs] : j.rvs) {
    for (std::size_t i = 1; i < rvs.size(); ++i) {
      EXPECT_LT(rvs[i - 1], rvs[i]) << name << ": version delivered twice or out of order";
    }
  }
  auto stats = inf.stats();
  if (stats.relists == 0) {
    // A plain resume: every write the server acknowledged reached the handlers.
    std::lock_guard wl(wmu);
    for (const auto& [name, rv] : last_written) {
      const auto& got = j.rvs[name];
      EXPECT_NE(std::find(got.begin(), got.end(), std::stol(rv)), got.end()) << name << "@" << rv;
    }
  }
  report("restart-apiserver.sh (stop, start, /readyz)",
         std::chrono::duration<double>(ready - restart_start).count(), "s");
  report("apiserver ready -> first new event delivered",
         std::chrono::duration<double>(seen - ready).count(), "s");
  report("watch resumes after restart", static_cast<double>(stats.resumes), "resumes");
  report("re-lists after restart", static_cast<double>(stats.relists), "relists");
  report("events dropped as duplicates", static_cast<double>(stats.duplicates), "events");
}

// Bookmarks: a watch on a quiet namespace still learns the current version. The watch cache
// sends a bookmark shortly before the watch's deadline (and about once a minute), provided it has
// seen some change since it started; bookmarks are not guaranteed by the API, so the write
// elsewhere below is part of the setup.
TEST_F(KubeWatchIT, BookmarksArriveAndMoveTheVersion) {
  const std::string ns = uniqueName("bm");
  ensureNamespace(*c, ns);
  ReflectorOptions o;
  o.ns = ns;
  o.watchTimeoutSeconds = 30;  // 30-60 s after the stretch: a bookmark comes before the end
  Reflector r(*c, resources::kConfigMaps, o, [](std::vector<Delta>, bool) {});
  ASSERT_EQ(r.step(), Duration::zero());
  std::string listed = r.resourceVersion();
  auto start = std::chrono::steady_clock::now();
  std::thread th([&] {
    while (r.state() != WatchState::kStopped) {
      Duration d = r.step();
      if (d > Duration::zero()) real.sleeper.sleepFor(d, r.cancelToken());
    }
  });
  ASSERT_TRUE(eventually([&] { return r.stats().watches > 0; }));
  std::this_thread::sleep_for(500ms);
  // A write our watch does not match moves etcd's revision past `listed`.
  ASSERT_TRUE(
      c->create(resources::kConfigMaps, "default", cm(uniqueName("elsewhere"), "x")).isOk());
  bool got = eventually([&] { return r.stats().bookmarks > 0; }, 75s);
  auto when = std::chrono::steady_clock::now();
  r.stop();
  th.join();
  ASSERT_TRUE(got) << "no BOOKMARK within 75 s";
  EXPECT_GT(std::stol(r.resourceVersion()), std::stol(listed));
  EXPECT_EQ(r.stats().events, 0u);  // it learnt the version without any event
  report("first bookmark on a quiet watch (timeoutSeconds 30-60)",
         std::chrono::duration<double>(when - start).count(), "s");
}

}  // namespace
}  // namespace schedkit::kube
