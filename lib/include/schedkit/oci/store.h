#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/registry.h"

namespace schedkit::oci {

// An flock(2) held until destroyed. Works across processes and across threads of one process
// (each lock opens its own file description).
class FileLock {
 public:
  FileLock() = default;
  explicit FileLock(int fd) : fd_(fd) {}
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  ~FileLock();
  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// What the store remembers about one pulled reference. Everything it names is kept by GC.
struct ImageRecord {
  std::string reference;  // normalised, as asked for ("reg/img:v1" or "reg/img@sha256:…")
  Digest digest;          // what the reference resolved to (index or manifest)
  std::string mediaType;  // of `digest`
  Digest manifestDigest;  // the platform's image manifest (== digest without an index)
  Digest configDigest;
  std::vector<Digest> layers;
  std::string platform;                // "linux/amd64"
  std::vector<Digest> signatureBlobs;  // cosign signature manifest and payloads, when verified
  std::string signatureKey;            // sha256 of the DER public key that verified them
  std::string pulledAt;                // RFC 3339
};

struct GcOptions {
  // References whose records survive; unset keeps every record (then only orphans go).
  std::optional<std::set<std::string>> keepReferences;
  // Manifest digests whose unpacked roots must stay even without a record (in use).
  std::set<Digest> keepRoots;
};

struct GcStats {
  int recordsRemoved = 0;
  int blobsRemoved = 0;
  int rootsRemoved = 0;
  int tempsRemoved = 0;
  std::int64_t bytesFreed = 0;
};

// A content-addressed cache under one directory:
//   blobs/sha256/<hex>      verified blobs, read-only; written as temp + fsync + rename
//   refs/<sha256(ref)>.json ImageRecords
//   rootfs/<manifest hex>/  unpacked, read-only image roots
//   tmp/                    downloads and unpacks in progress (each flock'ed by its writer)
//   locks/                  per-blob and per-root flock files; store.lock (pulls shared, GC
//                           exclusive)
// Concurrent pulls of one blob are safe: writers use unique O_EXCL temp names and the loser's
// rename replaces identical content; callers also serialise on lockBlob() to avoid downloading
// twice. Reads re-verify digests.
class ContentStore {
 public:
  explicit ContentStore(std::string root);
  Status init();
  const std::string& root() const { return root_; }

  std::string blobPath(const Digest& d) const;
  std::string rootfsPath(const Digest& manifest) const;
  bool hasBlob(const Digest& d) const;
  bool hasRootfs(const Digest& manifest) const;

  // Reads a small blob, re-verifying its digest; a corrupt blob is removed (kDataLoss).
  Result<std::string> readBlob(const Digest& d, std::int64_t maxBytes) const;
  // Streams a cached blob through sha256 and checks its size; removes it when corrupt.
  Status verifyBlob(const Digest& d, std::int64_t size) const;
  Status putBlob(const Digest& d, std::string_view data);

  // A sink that writes a temp file; commit() checks digest and size, fsyncs and renames into
  // blobs/. Destroying an uncommitted writer removes the temp file.
  class BlobWriter final : public BlobSink {
   public:
    ~BlobWriter() override;
    Status write(std::string_view chunk) override;
    Status reset() override;
    Status commit();

   private:
    friend class ContentStore;
    BlobWriter(const ContentStore& s, Descriptor d, std::string tmp, int fd)
        : store_(s), d_(std::move(d)), tmp_(std::move(tmp)), fd_(fd) {}
    const ContentStore& store_;
    Descriptor d_;
    std::string tmp_;
    int fd_;
    std::unique_ptr<Sha256> hash_ = std::make_unique<Sha256>();
    std::int64_t written_ = 0;
    bool committed_ = false;
  };
  Result<std::unique_ptr<BlobWriter>> newBlobWriter(const Descriptor& d) const;

  // Serialises work on one blob or root across threads and processes.
  Result<FileLock> lockBlob(const Digest& d) const;
  Result<FileLock> lockRoot(const Digest& manifest) const;
  // Shared for pulls, exclusive for GC.
  Result<FileLock> lockStore(bool exclusive) const;
  // A fresh directory under tmp/ with a held lock (GC skips it), for unpacking.
  struct TempDir {
    std::string path;
    FileLock lock;
  };
  Result<TempDir> makeTempDir(const std::string& prefix) const;

  Status putRecord(const ImageRecord& r);
  Result<ImageRecord> getRecord(const std::string& reference) const;  // kNotFound
  Result<std::vector<ImageRecord>> listRecords() const;
  Status removeRecord(const std::string& reference);

  // Removes records not kept, then blobs and roots no record names, and stale temp files.
  // Takes the store lock exclusively: it waits for running pulls.
  Result<GcStats> garbageCollect(const GcOptions& opts);

 private:
  std::string recordPath(const std::string& reference) const;
  Result<FileLock> lockFile(const std::string& path, bool exclusive) const;

  std::string root_;
};

// Removes a directory tree, first restoring write permission on read-only directories. Never
// follows symlinks.
Status removeTree(const std::string& path);

// Makes a tree read-only (write bits cleared; symlinks untouched).
Status makeTreeReadOnly(const std::string& path);

}  // namespace schedkit::oci
