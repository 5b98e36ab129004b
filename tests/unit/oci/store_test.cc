#include "schedkit/oci/store.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <thread>

namespace schedkit::oci {
namespace {

class ContentStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = std::make_unique<ContentStore>(dir_ + "/cache");
    ASSERT_TRUE(store_->init().isOk());
  }
  void TearDown() override { (void)removeTree(dir_); }

  Descriptor desc(const std::string& data) {
    return {"application/octet-stream",
            Digest::of(data),
            static_cast<std::int64_t>(data.size()),
            {},
            {},
            {}};
  }
  std::vector<std::string> ls(const std::string& sub) {
    std::vector<std::string> out;
    std::string cmd = "ls -A " + dir_ + "/cache/" + sub;
    FILE* p = popen(cmd.c_str(), "r");
    char buf[512];
    while (fgets(buf, sizeof buf, p)) {
      std::string s = buf;
      s.pop_back();
      out.push_back(s);
    }
    pclose(p);
    return out;
  }

  std::string dir_;
  std::unique_ptr<ContentStore> store_;
};

TEST_F(ContentStoreTest, WriterCommitsVerifiedReadOnlyBlobs) {
  auto d = desc("hello blob");
  auto w = store_->newBlobWriter(d);
  ASSERT_TRUE(w.isOk());
  ASSERT_TRUE((*w)->write("hello ").isOk());
  ASSERT_TRUE((*w)->write("blob").isOk());
  ASSERT_TRUE((*w)->commit().isOk());
  EXPECT_TRUE(store_->hasBlob(d.digest));
  struct stat st {};
  ASSERT_EQ(stat(store_->blobPath(d.digest).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0444u);
  EXPECT_EQ(*store_->readBlob(d.digest, 100), "hello blob");
  EXPECT_TRUE(store_->verifyBlob(d.digest, d.size).isOk());
  EXPECT_TRUE(ls("tmp").empty());
}

TEST_F(ContentStoreTest, WrongContentNeverLandsAndLeavesNoTemp) {
  auto d = desc("expected");
  {
    auto w = store_->newBlobWriter(d).value();
    ASSERT_TRUE(w->write("unexpect").isOk());
    auto st = w->commit();
    EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  }
  EXPECT_FALSE(store_->hasBlob(d.digest));
  EXPECT_TRUE(ls("tmp").empty());
  auto w = store_->newBlobWriter(d).value();
  EXPECT_EQ(w->write("expected and more").code(), StatusCode::kDataLoss);
}

TEST_F(ContentStoreTest, ResetStartsOver) {
  auto d = desc("abc");
  auto w = store_->newBlobWriter(d).value();
  ASSERT_TRUE(w->write("xy").isOk());
  ASSERT_TRUE(w->reset().isOk());
  ASSERT_TRUE(w->write("abc").isOk());
  EXPECT_TRUE(w->commit().isOk());
}

TEST_F(ContentStoreTest, ReadsReverifyAndDropCorruptBlobs) {
  auto d = desc("precious");
  ASSERT_TRUE(store_->putBlob(d.digest, "precious").isOk());
  std::string path = store_->blobPath(d.digest);
  chmod(path.c_str(), 0644);
  std::ofstream(path) << "tampered";
  auto r = store_->readBlob(d.digest, 100);
  EXPECT_EQ(r.status().code(), StatusCode::kDataLoss);
  EXPECT_FALSE(store_->hasBlob(d.digest));
  ASSERT_TRUE(store_->putBlob(d.digest, "precious").isOk());
  chmod(path.c_str(), 0644);
  std::ofstream(path) << "precious!";
  EXPECT_EQ(store_->verifyBlob(d.digest, d.size).code(), StatusCode::kDataLoss);
  EXPECT_FALSE(store_->hasBlob(d.digest));
}

TEST_F(ContentStoreTest, ConcurrentWritersOfOneBlobAreSafe) {
  std::string data(1 << 20, 'z');
  auto d = desc(data);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&] {
      auto w = store_->newBlobWriter(d).value();
      for (std::size_t off = 0; off < data.size(); off += 4096) {
        if (!w->write(std::string_view(data).substr(off, 4096)).isOk()) return;
      }
      if (w->commit().isOk()) ++ok;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_TRUE(store_->verifyBlob(d.digest, d.size).isOk());
  EXPECT_TRUE(ls("tmp").empty());
}

TEST_F(ContentStoreTest, BlobLockSerialisesAcrossThreads) {
  auto d = desc("x");
  auto l1 = store_->lockBlob(d.digest);
  ASSERT_TRUE(l1.isOk());
  std::atomic<bool> got{false};
  std::thread t([&] {
    auto l2 = store_->lockBlob(d.digest);
    got = true;
  });
  // The other thread cannot have the lock while we hold it; release and it proceeds.
  EXPECT_FALSE(got.load());
  *l1 = FileLock();
  t.join();
  EXPECT_TRUE(got.load());
}

TEST_F(ContentStoreTest, RecordsRoundTrip) {
  ImageRecord r;
  r.reference = "reg.test/team/img:v1";
  r.digest = Digest::of("idx");
  r.mediaType = "application/vnd.oci.image.index.v1+json";
  r.manifestDigest = Digest::of("m");
  r.configDigest = Digest::of("c");
  r.layers = {Digest::of("l1"), Digest::of("l2")};
  r.platform = "linux/amd64";
  ASSERT_TRUE(store_->putRecord(r).isOk());
  auto got = store_->getRecord(r.reference);
  ASSERT_TRUE(got.isOk()) << got.status().toString();
  EXPECT_EQ(got->layers, r.layers);
  EXPECT_EQ(got->manifestDigest, r.manifestDigest);
  EXPECT_EQ(store_->getRecord("other").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->listRecords()->size(), 1u);
}

TEST_F(ContentStoreTest, GarbageCollectKeepsWhatRecordsNameAndLiveTemps) {
  for (const char* s : {"idx", "m", "c", "l1", "orphan"})
    ASSERT_TRUE(store_->putBlob(Digest::of(s), s).isOk());
  ImageRecord r;
  r.reference = "reg.test/img:v1";
  r.digest = Digest::of("idx");
  r.manifestDigest = Digest::of("m");
  r.configDigest = Digest::of("c");
  r.layers = {Digest::of("l1")};
  ASSERT_TRUE(store_->putRecord(r).isOk());
  // A kept root, an orphan root (read-only, as unpacked roots are), a stale temp, a live temp.
  ASSERT_EQ(mkdir(store_->rootfsPath(Digest::of("m")).c_str(), 0755), 0);
  std::string orphanRoot = store_->rootfsPath(Digest::of("gone"));
  ASSERT_EQ(mkdir(orphanRoot.c_str(), 0755), 0);
  ASSERT_EQ(mkdir((orphanRoot + "/sub").c_str(), 0755), 0);
  std::ofstream(orphanRoot + "/sub/f") << "x";
  ASSERT_TRUE(makeTreeReadOnly(orphanRoot).isOk());
  std::ofstream(dir_ + "/cache/tmp/blob-stale") << "half";
  auto live = store_->makeTempDir("unpack");
  ASSERT_TRUE(live.isOk());

  auto st = store_->garbageCollect({});
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  EXPECT_EQ(st->blobsRemoved, 1);
  EXPECT_EQ(st->rootsRemoved, 1);
  EXPECT_EQ(st->tempsRemoved, 1);
  EXPECT_FALSE(store_->hasBlob(Digest::of("orphan")));
  EXPECT_TRUE(store_->hasBlob(Digest::of("l1")));
  EXPECT_TRUE(store_->hasRootfs(Digest::of("m")));
  EXPECT_EQ(ls("tmp").size(), 1u);  // the live one

  GcOptions drop;
  drop.keepReferences = std::set<std::string>{};
  drop.keepRoots = {Digest::of("m")};
  st = store_->garbageCollect(drop);
  ASSERT_TRUE(st.isOk());
  EXPECT_EQ(st->recordsRemoved, 1);
  EXPECT_EQ(st->blobsRemoved, 4);
  EXPECT_TRUE(store_->hasRootfs(Digest::of("m")));  // in use
  EXPECT_TRUE(ls("blobs/sha256").empty());
}

}  // namespace
}  // namespace schedkit::oci
