// schedkitctl image build --with-libs: reading ELF dynamic info, finding the loader and the shared
// libraries as the loader in the image will (a canned root, so the cases do not depend on this
// machine), and real builds of this machine's /bin/true and a static binary.
#include "image/libraries.h"

#include <archive.h>
#include <archive_entry.h>
#include <elf.h>
#include <gtest/gtest.h>
#include <limits.h>

#include <filesystem>
#include <map>

#include "image/build.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/unpack.h"
#include "unit/cli/cli_test_util.h"

namespace schedkit::cli {
namespace {

namespace fs = std::filesystem;
using testing::FakeElf;
using testing::fakeElf;
using testing::fakeOpsReader;
using testing::readFile;
using testing::ScratchDir;
using testing::writeFile;

// A tar entry read back from a layer.
struct TarEntry {
  unsigned type = 0;
  unsigned perm = 0;
  std::string symlink;
  std::string content;
};

std::vector<std::pair<std::string, TarEntry>> readLayer(const std::string& blob) {
  std::vector<std::pair<std::string, TarEntry>> out;
  struct archive* a = archive_read_new();
  archive_read_support_filter_gzip(a);
  archive_read_support_format_tar(a);
  if (archive_read_open_memory(a, blob.data(), blob.size()) != ARCHIVE_OK) {
    archive_read_free(a);
    return out;
  }
  struct archive_entry* e;
  while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
    TarEntry t;
    t.type = archive_entry_filetype(e);
    t.perm = archive_entry_perm(e);
    if (const char* s = archive_entry_symlink(e)) t.symlink = s;
    EXPECT_EQ(archive_entry_mtime(e), 0);
    EXPECT_EQ(archive_entry_uid(e), 0);
    EXPECT_EQ(archive_entry_gid(e), 0);
    char buf[65536];
    la_ssize_t n;
    while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
      t.content.append(buf, static_cast<std::size_t>(n));
    }
    out.emplace_back(archive_entry_pathname(e), std::move(t));
  }
  archive_read_free(a);
  return out;
}

std::string hostRealpath(const std::string& p) {
  char buf[PATH_MAX];
  return ::realpath(p.c_str(), buf) ? std::string(buf) : std::string();
}

TEST(LexicallyNormal, Forms) {
  EXPECT_EQ(lexicallyNormal("/usr/bin/../lib/x.so"), "/usr/lib/x.so");
  EXPECT_EQ(lexicallyNormal("/a/./b//c/"), "/a/b/c");
  EXPECT_EQ(lexicallyNormal("/../../x"), "/x");
  EXPECT_EQ(lexicallyNormal("/"), "/");
}

TEST(RelativeLinkTarget, Forms) {
  EXPECT_EQ(relativeLinkTarget("/lib64/ld-linux-x86-64.so.2",
                               "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
            "../usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2");
  EXPECT_EQ(
      relativeLinkTarget("/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
      "../../usr/lib/x86_64-linux-gnu/libc.so.6");
  EXPECT_EQ(relativeLinkTarget("/usr/lib/libz.so.1", "/usr/lib/libz.so.1.2.13"), "libz.so.1.2.13");
  EXPECT_EQ(relativeLinkTarget("/x.so", "/opt/lib/x.so"), "opt/lib/x.so");
}

TEST(ReadElfDynamicInfo, ReadsTheProgramHeadersAndTheDynamicSection) {
  ScratchDir d;
  writeFile(d / "app", fakeElf({2,
                                2,
                                62,
                                "/lib64/ld-linux-x86-64.so.2",
                                {"libfoo.so.1", "libc.so.6"},
                                "",
                                "$ORIGIN/../lib:/opt/x",
                                ""}));
  auto i = readElfDynamicInfo(d / "app", "app");
  ASSERT_TRUE(i.isOk()) << i.status().toString();
  EXPECT_EQ(i->elfClass, ELFCLASS64);
  EXPECT_EQ(i->machine, EM_X86_64);
  EXPECT_EQ(i->type, ET_EXEC);
  EXPECT_EQ(i->interpreter, "/lib64/ld-linux-x86-64.so.2");
  EXPECT_EQ(i->needed, (std::vector<std::string>{"libfoo.so.1", "libc.so.6"}));
  EXPECT_EQ(i->runpath, (std::vector<std::string>{"$ORIGIN/../lib", "/opt/x"}));
  EXPECT_TRUE(i->rpath.empty());

  writeFile(d / "script", "#!/bin/sh\n");
  auto s = readElfDynamicInfo(d / "script", "script");
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.status().message().find("script is not an ELF file"), std::string::npos);

  // A string table offset beyond the file.
  std::string bad = fakeElf({3, 2, 62, "", {"libc.so.6"}, "", "", ""});
  bad.resize(bad.size() - 40);
  writeFile(d / "bad", bad);
  EXPECT_FALSE(readElfDynamicInfo(d / "bad", "bad").isOk());
}

TEST(ReadElfDynamicInfo, ReadsThisMachinesTrue) {
  auto i = readElfDynamicInfo("/bin/true", "/bin/true");
  ASSERT_TRUE(i.isOk()) << i.status().toString();
  if (i->interpreter.empty()) GTEST_SKIP() << "/bin/true is statically linked here";
  EXPECT_EQ(i->interpreter.front(), '/');
  EXPECT_NE(std::find(i->needed.begin(), i->needed.end(), "libc.so.6"), i->needed.end());
}

// A canned build machine: a merged /usr (/lib -> usr/lib), the loader behind an absolute
// symlink in /lib64, libfoo behind a versioned symlink, a library next to the program found
// through $ORIGIN, and a 32-bit decoy the loader must skip.
class CannedRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    root_ = dir_ / "root";
    const std::string lib = root_ + "/usr/lib/x86_64-linux-gnu";
    fs::create_directories(lib);
    fs::create_directories(root_ + "/usr/lib64");
    fs::create_directories(root_ + "/opt/app/bin");
    fs::create_directories(root_ + "/opt/app/lib");
    fs::create_symlink("usr/lib", root_ + "/lib");
    fs::create_symlink("usr/lib64", root_ + "/lib64");
    writeFile(lib + "/ld-linux-x86-64.so.2",
              fakeElf({3, 2, 62, "", {}, "ld-linux-x86-64.so.2", "", ""}), 0755);
    fs::create_symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
                       root_ + "/usr/lib64/ld-linux-x86-64.so.2");
    writeFile(lib + "/libc.so.6",
              fakeElf({3, 2, 62, "", {"ld-linux-x86-64.so.2"}, "libc.so.6", "", ""}), 0755);
    writeFile(lib + "/libfoo.so.1.2.3",
              fakeElf({3, 2, 62, "", {"libc.so.6"}, "libfoo.so.1", "", ""}));
    fs::create_symlink("libfoo.so.1.2.3", lib + "/libfoo.so.1");
    writeFile(root_ + "/opt/app/lib/libbar.so", fakeElf({3, 2, 62, "", {"libc.so.6"}, "", "", ""}));
    writeFile(root_ + "/opt/app/lib/libc.so.6", fakeElf({3, 1, 3, "", {}, "", "", ""}));  // i386
  }

  std::string app(const std::vector<std::string>& needed, const std::string& runpath = "",
                  const std::string& name = "app") {
    std::string p = root_ + "/opt/app/bin/" + name;
    writeFile(p, fakeElf({3, 2, 62, "/lib64/ld-linux-x86-64.so.2", needed, "", runpath, ""}), 0755);
    return p;
  }

  Result<LibraryClosure> find(const std::string& file,
                              const std::string& imagePath = "/usr/bin/app") {
    LibrarySearch s;
    s.root = root_;
    return findSharedLibraries(file, imagePath, s);
  }

  ScratchDir dir_;
  std::string root_;
};

TEST_F(CannedRootTest, FindsTheLoaderAndEveryLibraryAtTheirResolvedPaths) {
  auto c = find(app({"libfoo.so.1", "libbar.so", "libc.so.6"}, "$ORIGIN/../lib"));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_TRUE(c->dynamic);
  std::vector<std::tuple<std::string, std::string, std::vector<std::string>, bool>> got;
  for (const auto& l : c->libraries) got.emplace_back(l.name, l.path, l.links, l.interpreter);
  using V = std::vector<std::string>;
  decltype(got) want = {
      {"/lib64/ld-linux-x86-64.so.2", "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2",
       V{"/lib64/ld-linux-x86-64.so.2"}, true},
      // Not next to the program ($ORIGIN/../lib has no libfoo): the default directories.
      {"libfoo.so.1", "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3",
       V{"/lib/x86_64-linux-gnu/libfoo.so.1"}, false},
      // $ORIGIN is /opt/app/bin on this machine and /usr/bin in the image.
      {"libbar.so", "/opt/app/lib/libbar.so", V{"/usr/lib/libbar.so"}, false},
      // The 32-bit libc.so.6 next to the program is skipped, as the loader skips it.
      {"libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6", V{"/lib/x86_64-linux-gnu/libc.so.6"},
       false},
  };
  EXPECT_EQ(got, want);
  // libc's DT_NEEDED ld-linux-x86-64.so.2 is the loader itself (its SONAME): not added twice.
  EXPECT_EQ(c->libraries.size(), 4u);
  EXPECT_EQ(c->libraries[0].mode, 0755u);
  EXPECT_EQ(c->libraries[1].mode, 0644u);
  EXPECT_EQ(c->libraries[1].content, readFile(root_ + "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3"));
  EXPECT_EQ(c->libraries[1].digest, oci::Digest::of(c->libraries[1].content));
}

TEST_F(CannedRootTest, RpathAppliesOnlyWithoutRunpath) {
  fs::create_directories(root_ + "/opt/rp");
  writeFile(root_ + "/opt/rp/libfoo.so.1", fakeElf({3, 2, 62, "", {}, "libfoo.so.1", "", ""}));
  std::string p = root_ + "/opt/app/bin/rp";
  writeFile(p,
            fakeElf({3, 2, 62, "/lib64/ld-linux-x86-64.so.2", {"libfoo.so.1"}, "", "", "/opt/rp"}),
            0755);
  auto c = find(p);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  ASSERT_EQ(c->libraries.size(), 2u);
  EXPECT_EQ(c->libraries[1].path, "/opt/rp/libfoo.so.1");
  EXPECT_TRUE(c->libraries[1].links.empty());
  // With a DT_RUNPATH as well, DT_RPATH is ignored.
  writeFile(
      p,
      fakeElf(
          {3, 2, 62, "/lib64/ld-linux-x86-64.so.2", {"libfoo.so.1"}, "", "/nowhere", "/opt/rp"}),
      0755);
  c = find(p);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->libraries[1].path, "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2.3");
}

TEST_F(CannedRootTest, AMissingLibraryIsNamed) {
  auto c = find(app({"libc.so.6", "libmissing.so.7"}));
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("shared library libmissing.so.7 (needed by /usr/bin/app) "
                                      "was not found in /lib/x86_64-linux-gnu, "
                                      "/usr/lib/x86_64-linux-gnu, /lib64, /usr/lib64, /lib, "
                                      "/usr/lib"),
            std::string::npos)
      << c.status().message();
  // One a library needs, too.
  writeFile(root_ + "/usr/lib/x86_64-linux-gnu/libbaz.so",
            fakeElf({3, 2, 62, "", {"libgone.so"}, "", "", ""}));
  c = find(app({"libbaz.so"}));
  ASSERT_FALSE(c.isOk());
  EXPECT_NE(c.status().message().find("libgone.so (needed by /usr/lib/x86_64-linux-gnu/libbaz.so)"),
            std::string::npos)
      << c.status().message();
}

TEST_F(CannedRootTest, AMissingLoaderIsNamed) {
  std::string p = root_ + "/opt/app/bin/musl";
  writeFile(p, fakeElf({3, 2, 62, "/lib/ld-musl-x86_64.so.1", {"libc.so"}, "", "", ""}), 0755);
  auto c = find(p);
  ASSERT_FALSE(c.isOk());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_NE(c.status().message().find("the loader /lib/ld-musl-x86_64.so.1"), std::string::npos)
      << c.status().message();
}

TEST_F(CannedRootTest, AStaticProgramNeedsNothing) {
  std::string p = root_ + "/opt/app/bin/static";
  writeFile(p, fakeElf({2, 2, 62, "", {}, "", "", ""}), 0755);
  auto c = find(p);
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_FALSE(c->dynamic);
  EXPECT_TRUE(c->libraries.empty());
}

// Builds with BuildOptions::withLibs on this machine's files.
class WithLibsBuildTest : public ::testing::Test {
 protected:
  BuildOptions binary(const std::string& file, const std::string& layout) {
    BuildOptions o;
    o.type = "binary";
    o.file = file;
    o.name = "test";
    o.platform = "linux/amd64";
    o.withLibs = true;
    o.outputLayout = dir_ / layout;
    return o;
  }
  std::string layerBlob(const BuildResult& r) {
    return readFile(oci::OciLayout(r.layout).blobPath(r.layer.digest));
  }

  ScratchDir dir_;
};

TEST_F(WithLibsBuildTest, TrueGetsTheLoaderAndLibcAtTheirPaths) {
  auto info = readElfDynamicInfo("/bin/true", "/bin/true");
  ASSERT_TRUE(info.isOk()) << info.status().toString();
  if (info->interpreter.empty()) GTEST_SKIP() << "/bin/true is statically linked here";
  auto r = buildSchedulerImage(binary("/bin/true", "true:1"), fakeOpsReader());
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_TRUE(r->withLibs);
  EXPECT_TRUE(r->notes.empty());
  ASSERT_GE(r->libraries.size(), 2u);

  std::map<std::string, TarEntry> tar;
  std::vector<std::string> order;
  for (auto& [name, e] : readLayer(layerBlob(*r))) {
    order.push_back(name);
    tar[name] = std::move(e);
  }
  // Sorted by path component, parents first.
  for (std::size_t i = 1; i < order.size(); ++i) {
    EXPECT_TRUE(fs::path(order[i - 1]) < fs::path(order[i])) << order[i - 1] << " " << order[i];
  }
  ASSERT_TRUE(tar.count("usr/bin/true"));
  EXPECT_EQ(tar["usr/bin/true"].content, readFile("/bin/true"));

  // The loader: a regular file at the path PT_INTERP resolves to here, and PT_INTERP itself.
  const AddedLibrary& ld = r->libraries[0];
  EXPECT_TRUE(ld.interpreter);
  EXPECT_EQ(ld.name, info->interpreter);
  EXPECT_EQ(ld.path, hostRealpath(info->interpreter));
  ASSERT_TRUE(tar.count(ld.path.substr(1)));
  EXPECT_EQ(tar[ld.path.substr(1)].type, AE_IFREG);
  EXPECT_EQ(tar[ld.path.substr(1)].content, readFile(info->interpreter));
  if (ld.path != info->interpreter) {
    ASSERT_EQ(ld.links, std::vector<std::string>{info->interpreter});
    EXPECT_EQ(tar[info->interpreter.substr(1)].type, AE_IFLNK);
    EXPECT_EQ(tar[info->interpreter.substr(1)].symlink,
              relativeLinkTarget(info->interpreter, ld.path));
  }
  // libc: looked up by name in a default directory, stored where that resolves.
  auto libc = std::find_if(r->libraries.begin(), r->libraries.end(),
                           [](const AddedLibrary& l) { return l.name == "libc.so.6"; });
  ASSERT_NE(libc, r->libraries.end());
  std::string lookup = libc->links.empty() ? libc->path : libc->links[0];
  EXPECT_EQ(fs::path(lookup).filename(), "libc.so.6");
  EXPECT_EQ(libc->path, hostRealpath(lookup));
  EXPECT_EQ(tar[libc->path.substr(1)].content, readFile(lookup));
  EXPECT_EQ(libc->size, static_cast<std::int64_t>(readFile(lookup).size()));

  // Unpacked by the agent's unpacker, every path the loader opens is there.
  std::string root = dir_ / "unpacked";
  fs::create_directories(root);
  ASSERT_TRUE(oci::unpackLayerBytes(layerBlob(*r), root, {}).isOk());
  for (const std::string& p : {info->interpreter, lookup, std::string("/usr/bin/true")}) {
    auto host = oci::resolveInRoot(root, p);
    ASSERT_TRUE(host.isOk()) << p << ": " << host.status().toString();
    EXPECT_EQ(readFile(*host), readFile(p)) << p;
  }
}

TEST_F(WithLibsBuildTest, SameInputsGiveTheSameDigest) {
  auto a = buildSchedulerImage(binary("/bin/true", "a:1"), fakeOpsReader());
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  auto b = buildSchedulerImage(binary("/bin/true", "b:1"), fakeOpsReader());
  ASSERT_TRUE(b.isOk()) << b.status().toString();
  EXPECT_EQ(a->digest, b->digest);
  EXPECT_EQ(a->layer.digest, b->layer.digest);
  EXPECT_EQ(a->diffId, b->diffId);
  EXPECT_EQ(layerBlob(*a), layerBlob(*b));
  // And the libraries change the image.
  BuildOptions plain = binary("/bin/true", "c:1");
  plain.withLibs = false;
  auto c = buildSchedulerImage(plain, fakeOpsReader());
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  if (!a->libraries.empty()) {
    EXPECT_NE(c->layer.digest, a->layer.digest);
  }
}

TEST_F(WithLibsBuildTest, AStaticBinaryAddsNothing) {
  const std::string busybox = "/bin/busybox";
  auto info = readElfDynamicInfo(busybox, busybox);
  if (!info.isOk()) GTEST_SKIP() << busybox << " is not here: " << info.status().message();
  if (!info->interpreter.empty()) GTEST_SKIP() << busybox << " is dynamically linked here";
  auto with = buildSchedulerImage(binary(busybox, "with:1"), fakeOpsReader());
  ASSERT_TRUE(with.isOk()) << with.status().toString();
  EXPECT_TRUE(with->libraries.empty());
  ASSERT_EQ(with->notes.size(), 1u);
  EXPECT_NE(with->notes[0].find("is statically linked: --with-libs added nothing"),
            std::string::npos);
  BuildOptions o = binary(busybox, "without:1");
  o.withLibs = false;
  auto without = buildSchedulerImage(o, fakeOpsReader());
  ASSERT_TRUE(without.isOk()) << without.status().toString();
  EXPECT_EQ(with->layer.digest, without->layer.digest);
  EXPECT_EQ(with->digest, without->digest);
}

TEST_F(WithLibsBuildTest, AScriptIsRefused) {
  writeFile(dir_ / "scx_sh", "#!/bin/sh\nexec true\n", 0755);
  auto r = buildSchedulerImage(binary(dir_ / "scx_sh", "sh:1"), fakeOpsReader());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("--with-libs " + (dir_ / "scx_sh") + ": " +
                                      (dir_ / "scx_sh") + " is not an ELF file"),
            std::string::npos)
      << r.status().message();
  struct stat st {};
  EXPECT_NE(::stat((dir_ / "sh").c_str(), &st), 0);  // nothing written
}

TEST_F(WithLibsBuildTest, ALibraryAtTheBinarysPathIsAConflict) {
  auto info = readElfDynamicInfo("/bin/true", "/bin/true");
  ASSERT_TRUE(info.isOk());
  if (info->interpreter.empty()) GTEST_SKIP() << "/bin/true is statically linked here";
  BuildOptions o = binary("/bin/true", "clash:1");
  o.path = info->interpreter;
  auto r = buildSchedulerImage(o, fakeOpsReader());
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("two entries for " + info->interpreter), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace schedkit::cli
