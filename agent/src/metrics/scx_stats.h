#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"
#include "schedkit/os/filesystem.h"

// The scx_stats protocol, spoken by the Rust sched_ext schedulers (scx_lavd, scx_bpfland,
// scx_rusty, ...) on a unix stream socket: one JSON request line, one JSON response line, on a
// connection that may stay open.
//   {"req":"stats","args":{"target":"top"}}  -> {"errno":0,"args":{"resp":{<top stats struct>}}}
//   {"req":"stats_meta","args":{}}           -> {"errno":0,"args":{"resp":{"<Struct>":{...}}}}
//   failures                                 -> {"errno":22,"args":{"resp":"<error text>"}}
// Parsing is pure (no I/O) so it is tested on strings; UnixScxStatsTransport does the I/O.
namespace schedkit::agent {

inline constexpr const char* kDefaultScxStatsSocket = "/run/scx/root/stats";

struct ScxStatsOptions {
  std::string socketPath = kDefaultScxStatsSocket;  // a host path; empty turns the reader off
  Duration timeout = std::chrono::seconds(1);       // per request: connect, send and read a line
  std::size_t maxResponseBytes = 4u << 20;          // one response line, without the newline
  std::size_t maxSamples = 2000;                    // per scrape; the rest are dropped
};

// Request lines, newline included.
std::string scxStatsRequest(std::string_view target = "top");
std::string scxStatsMetaRequest();

// One response line (a trailing newline is allowed) → the value of args.resp.
// Errors: kInvalidArgument when it is not JSON or not the protocol's shape; kFailedPrecondition
// when the server answered errno != 0 (the message carries its text).
Result<nlohmann::json> parseScxStatsResponse(std::string_view line);

// What stats_meta says, reduced to what the exporter uses: descriptions for HELP text and which
// struct a field holds (so nested fields find their descriptions). Accepts both serde shapes the
// scx_stats versions wrote ({"data":{"Datum":...},"attrs":{"desc":...}} and the flattened
// {"datum":...,"desc":...}); unknown parts are ignored.
struct ScxStatsField {
  std::string desc;
  std::string structName;  // the struct it holds (as datum, array element or dict value)
};
struct ScxStatsStruct {
  bool top = false;  // scx_lavd marks two structs top: flattening picks by field names
  std::string desc;
  std::map<std::string, ScxStatsField> fields;
};
struct ScxStatsMeta {
  std::map<std::string, ScxStatsStruct> structs;
};
Result<ScxStatsMeta> parseScxStatsMeta(const nlohmann::json& resp);

// One gauge sample. `labels` holds only what the stats say ("key" for dict entries); the
// exporter adds who is running.
struct ScxStatsSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  std::string help;
};
struct ScxStatsSamples {
  std::vector<ScxStatsSample> samples;
  std::size_t dropped = 0;  // past maxSamples
};

// Names the exporter uses for its own health; a stats field that maps onto one is dropped.
inline constexpr const char* kScxStatsUpMetric = "schedkit_scx_stats_up";
inline constexpr const char* kScxStatsErrorsMetric = "schedkit_scx_stats_errors_total";
inline constexpr const char* kScxStatsReadSecondsMetric = "schedkit_scx_stats_read_seconds";

// Turns the top stats object into samples:
//   numeric field f (integer, float, bool as 0/1)        → schedkit_scx_<f>
//   object field p whose entries are numbers             → schedkit_scx_<p>{key="<entry>"}
//   object field p whose entries are objects (a dict of
//   structs, e.g. rusty's nodes), their numeric fields g → schedkit_scx_<p>_<g>{key="<entry>"}
// Deeper levels, arrays (cpumasks, sample lists), strings and null are skipped; NaN and ±inf are
// dropped. Names are sanitised to [a-zA-Z0-9_]. The first (name, labels) wins over duplicates.
// HELP comes from `meta` when it describes the field. kInvalidArgument when resp is no object.
Result<ScxStatsSamples> flattenScxStats(const nlohmann::json& resp, const ScxStatsMeta& meta,
                                        std::size_t maxSamples);

// The bounded `reason` label of schedkit_scx_stats_errors_total for a failed request:
// connect, timeout, io, too_large, parse or server_error.
std::string_view scxStatsErrorReason(const Status& s);
inline constexpr const char* kScxStatsErrorReasons[] = {"connect",   "timeout", "io",
                                                        "too_large", "parse",   "server_error"};

// What is at the socket path: a socket file, named by device and inode so a rebound socket is
// told apart from a stale one.
struct ScxSocketFile {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  friend bool operator==(const ScxSocketFile&, const ScxSocketFile&) = default;
};

// The exporter's seam to one stats socket. Not thread-safe; the exporter serialises calls.
class ScxStatsTransport {
 public:
  virtual ~ScxStatsTransport() = default;
  // One stat() of the socket path; nullopt when nothing (or no socket) is there.
  virtual std::optional<ScxSocketFile> statSocket() const = 0;
  // Sends one request line and returns the response's args.resp, reusing the open connection
  // or connecting first. Errors, by code: kNotFound (nobody listens: no file, or a stale socket
  // that refuses connections), kUnavailable (other connect failures), kDeadlineExceeded,
  // kDataLoss (connection closed or broken), kResourceExhausted (line too long), and those of
  // parseScxStatsResponse. After an error the connection is closed.
  virtual Result<nlohmann::json> call(std::string_view requestLine) = 0;
  virtual void disconnect() = 0;
};
using ScxStatsTransportPtr = std::unique_ptr<ScxStatsTransport>;

// The real socket, at options.socketPath under the Filesystem's host root. Each call has its own
// deadline (options.timeout, from the Clock). A request on a reused connection that the server
// closed in the meantime is retried once on a new connection.
class UnixScxStatsTransport final : public ScxStatsTransport {
 public:
  UnixScxStatsTransport(const Filesystem& fs, const Clock& clock, ScxStatsOptions options);
  ~UnixScxStatsTransport() override;
  UnixScxStatsTransport(const UnixScxStatsTransport&) = delete;
  UnixScxStatsTransport& operator=(const UnixScxStatsTransport&) = delete;

  std::optional<ScxSocketFile> statSocket() const override;
  Result<nlohmann::json> call(std::string_view requestLine) override;
  void disconnect() override;

 private:
  Status connect(MonoTime deadline);
  Result<std::string> exchange(std::string_view requestLine, MonoTime deadline);

  const Filesystem& fs_;
  const Clock& clock_;
  ScxStatsOptions options_;
  int fd_ = -1;
};

// Request/response over an already connected stream socket: writes `requestLine`, then reads up
// to the first newline, all before `deadline`; the line (without the newline) may hold at most
// maxBytes. `trailing` is set when the peer sent more than the line (the stream is then out of
// step and should be closed). Errors: kDeadlineExceeded, kDataLoss, kResourceExhausted.
// Used by UnixScxStatsTransport; exposed so tests can drive it over a socketpair.
Result<std::string> scxStatsExchange(int fd, std::string_view requestLine, const Clock& clock,
                                     MonoTime deadline, std::size_t maxBytes,
                                     bool* trailing = nullptr);

// "sha256:…" from a digest reference ("registry/repo@sha256:…"); empty when there is none
// (hostPath schedulers).
std::string imageDigestOf(std::string_view image);

// What the exporter needs to read the running scheduler's stats.
struct ScxStatsDeps {
  ScxStatsTransportPtr transport;
  const Filesystem& fs;  // for /proc/sys/kernel/osrelease when the status has no release
  const Clock& clock;
  Logger log;
  std::size_t maxSamples = ScxStatsOptions{}.maxSamples;
};

}  // namespace schedkit::agent
