#include "metrics/scx_stats.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <thread>

#include "fakes/fake_kernel.h"
#include "fakes/mem_filesystem.h"
#include "metrics/agent_metrics.h"

namespace schedkit::agent {
namespace {

using nlohmann::json;

// ---- parseScxStatsResponse ----

struct ResponseCase {
  const char* name;
  std::string line;
  StatusCode code;       // kOk: parses
  const char* contains;  // in the error message, or in resp.dump() when it parses
};

class ParseResponseTest : public ::testing::TestWithParam<ResponseCase> {};

TEST_P(ParseResponseTest, Parses) {
  const ResponseCase& c = GetParam();
  auto r = parseScxStatsResponse(c.line);
  if (c.code == StatusCode::kOk) {
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    EXPECT_NE(r->dump().find(c.contains), std::string::npos) << r->dump();
  } else {
    ASSERT_FALSE(r.isOk()) << r->dump();
    EXPECT_EQ(r.status().code(), c.code) << r.status().toString();
    EXPECT_NE(r.status().message().find(c.contains), std::string::npos) << r.status().toString();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Lines, ParseResponseTest,
    ::testing::Values(
        ResponseCase{"Good", "{\"errno\":0,\"args\":{\"resp\":{\"mseq\":3}}}\n", StatusCode::kOk,
                     "\"mseq\":3"},
        ResponseCase{"CrLf", "{\"errno\":0,\"args\":{\"resp\":[1]}}\r\n", StatusCode::kOk, "[1]"},
        ResponseCase{
            "ServerErrno",
            "{\"errno\":22,\"args\":{\"resp\":\"unknown stat target \\\"x\\\"\\n\\nCaused "
            "by:\\n    Invalid argument\"}}",
            StatusCode::kFailedPrecondition,
            "scx_stats server error: Invalid argument (EINVAL): unknown stat target \"x\""},
        ResponseCase{"ServerErrnoNotString", "{\"errno\":5,\"args\":{\"resp\":{\"why\":1}}}",
                     StatusCode::kFailedPrecondition, "(EIO): {\"why\":1}"},
        ResponseCase{"ServerErrnoOutOfRange", "{\"errno\":-99999999999,\"args\":{}}",
                     StatusCode::kFailedPrecondition, "EINVAL"},
        ResponseCase{"NotJson", "hello there\n", StatusCode::kInvalidArgument,
                     "response is not JSON: \"hello there\""},
        ResponseCase{"Binary", std::string("\x00\xff\x1b[31m{", 7), StatusCode::kInvalidArgument,
                     "not JSON: \"???[31m\""},
        ResponseCase{"Truncated", "{\"errno\":0,\"args\":{\"resp\":{\"mseq\":",
                     StatusCode::kInvalidArgument, "not JSON"},
        ResponseCase{"Empty", "\n", StatusCode::kInvalidArgument, "empty response line"},
        ResponseCase{"Array", "[0,{}]", StatusCode::kInvalidArgument,
                     "a JSON array, not an object"},
        ResponseCase{"NoErrno", "{\"args\":{\"resp\":{}}}", StatusCode::kInvalidArgument,
                     "no integer \"errno\""},
        ResponseCase{"StringErrno", "{\"errno\":\"0\",\"args\":{\"resp\":{}}}",
                     StatusCode::kInvalidArgument, "no integer \"errno\""},
        ResponseCase{"FloatErrno", "{\"errno\":0.5,\"args\":{\"resp\":{}}}",
                     StatusCode::kInvalidArgument, "no integer \"errno\""},
        ResponseCase{"NoResp", "{\"errno\":0,\"args\":{}}", StatusCode::kInvalidArgument,
                     "no \"args\".\"resp\""},
        ResponseCase{"ArgsNotObject", "{\"errno\":0,\"args\":[]}", StatusCode::kInvalidArgument,
                     "no \"args\".\"resp\""}),
    [](const auto& p) { return std::string(p.param.name); });

TEST(ScxStatsParseTest, DeepNestingIsRefusedBeforeParsing) {
  std::string deep(200000, '[');
  for (const std::string& resp : {deep, deep + std::string(200000, ']')}) {
    auto r = parseScxStatsResponse("{\"errno\":0,\"args\":{\"resp\":" + resp + "}}");
    ASSERT_FALSE(r.isOk());
    EXPECT_EQ(r.status().message(), "response nests deeper than 32 levels");
  }
  // Brackets inside strings do not count; 32 levels do.
  std::string ok =
      "{\"errno\":0,\"args\":{\"resp\":{\"s\":\"[[[[{{{{\\\"[[\",\"a\":" + std::string(29, '[') +
      std::string(29, ']') + "}}}";
  EXPECT_TRUE(parseScxStatsResponse(ok).isOk()) << parseScxStatsResponse(ok).status().toString();
}

TEST(ScxStatsParseTest, RequestLines) {
  EXPECT_EQ(scxStatsRequest(), "{\"args\":{\"target\":\"top\"},\"req\":\"stats\"}\n");
  EXPECT_EQ(scxStatsMetaRequest(), "{\"args\":{},\"req\":\"stats_meta\"}\n");
  // What the server parses: {"req": String, "args": {String: String}}.
  json j = json::parse(scxStatsRequest("sched_samples"));
  EXPECT_EQ(j["req"], "stats");
  EXPECT_EQ(j["args"]["target"], "sched_samples");
}

// ---- stats_meta and flattening ----

// scx_lavd's SysStats as the current scx_stats serialises meta (flattened serde: "datum",
// "desc", "top" next to the name). lavd marks two structs top; SchedSample sorts first.
const char* kLavdMeta = R"js({
  "SchedSample": {"name": "SchedSample", "top": "true", "_om_prefix": "s_",
    "fields": {"mseq": {"datum": "u64", "desc": "Sequence ID of this message"},
               "pid": {"datum": "i64", "desc": "Process ID"},
               "comm": {"datum": "string", "desc": "Task name"}}},
  "SysStats": {"name": "SysStats", "top": "true",
    "fields": {"mseq": {"datum": "u64", "desc": "Sequence ID of this message"},
               "nr_queued_task": {"datum": "u64", "desc": "Number of runnable tasks in runqueues"},
               "nr_active": {"datum": "u64", "desc": "Number of active CPUs when core compaction is enabled"},
               "nr_sched": {"datum": "u64", "desc": "Number of context switches"},
               "pc_pc": {"datum": "float", "desc": "% of performance-critical tasks"},
               "power_mode": {"datum": "string", "desc": "Current power mode"},
               "pc_powersave": {"datum": "float", "desc": "% of powersave mode"}}}
})js";

const char* kLavdTop = R"js({"mseq": 41, "nr_queued_task": 3, "nr_active": 8, "nr_sched": 123456,
  "nr_preempt": 17, "pc_pc": 12.5, "pc_lc": 0.0, "power_mode": "balanced", "pc_powersave": 0})js";

// scx_rusty's ClusterStats in the older serde shape ("data": {"Dict": ...}, "attrs": {...}),
// with per-node stats that nest per-domain stats, and cpumask arrays.
const char* kRustyMeta = R"js({
  "DomainStats": {"name": "DomainStats", "attrs": {"desc": "domain statistics"},
    "fields": {"load": {"data": {"Datum": "Float"}, "attrs": {"desc": "domain load"}}}},
  "NodeStats": {"name": "NodeStats", "attrs": {},
    "fields": {"load": {"data": {"Datum": "Float"}, "attrs": {"desc": "sum of weight * duty_cycle for all tasks"}},
               "imbal": {"data": {"Datum": "Float"}, "attrs": {"desc": "load imbalance from average"}},
               "doms": {"data": {"Dict": {"key": "U64", "datum": {"Struct": "DomainStats"}}}, "attrs": {}}}},
  "ClusterStats": {"name": "ClusterStats", "attrs": {"top": "true", "desc": "cluster"},
    "fields": {"at_us": {"data": {"Datum": "U64"}, "attrs": {"desc": "time\\stamp"}},
               "cpu_busy": {"data": {"Datum": "Float"}, "attrs": {"desc": "CPU busy % (100% means all CPU)"}},
               "direct_greedy_cpus": {"data": {"Array": "U64"}, "attrs": {}},
               "nodes": {"data": {"Dict": {"key": "U64", "datum": {"Struct": "NodeStats"}}},
                         "attrs": {"desc": "per-node statistics"}}}}
})js";

const char* kRustyTop = R"js({"at_us": 1750000000123456, "cpu_busy": 37.5, "load": 812.25,
  "direct_greedy_cpus": [18446744073709551615, 3], "kick_greedy_cpus": [],
  "nodes": {"0": {"load": 400.5, "imbal": -1.5, "delta": 0,
                  "doms": {"0": {"load": 200.25, "imbal": 0, "delta": 0}}},
            "1": {"load": 411.75, "imbal": 1.5, "delta": 2}}})js";

const ScxStatsSample* find(const ScxStatsSamples& s, const std::string& name,
                           const std::string& key = "") {
  for (const auto& x : s.samples) {
    bool keyed = !x.labels.empty();
    if (x.name != name || keyed != !key.empty()) continue;
    if (!keyed || (x.labels[0].first == "key" && x.labels[0].second == key)) return &x;
  }
  return nullptr;
}

ScxStatsMeta metaOf(const char* text) {
  auto m = parseScxStatsMeta(json::parse(text));
  EXPECT_TRUE(m.isOk()) << m.status().toString();
  return m.isOk() ? *m : ScxStatsMeta{};
}

TEST(ScxStatsMetaTest, ReadsBothSerdeShapes) {
  ScxStatsMeta lavd = metaOf(kLavdMeta);
  ASSERT_EQ(lavd.structs.count("SysStats"), 1u);
  EXPECT_TRUE(lavd.structs["SysStats"].top);
  EXPECT_EQ(lavd.structs["SysStats"].fields["nr_sched"].desc, "Number of context switches");
  ScxStatsMeta rusty = metaOf(kRustyMeta);
  EXPECT_TRUE(rusty.structs["ClusterStats"].top);
  EXPECT_FALSE(rusty.structs["NodeStats"].top);
  EXPECT_EQ(rusty.structs["ClusterStats"].desc, "cluster");
  EXPECT_EQ(rusty.structs["ClusterStats"].fields["nodes"].structName, "NodeStats");
  EXPECT_EQ(rusty.structs["NodeStats"].fields["doms"].structName, "DomainStats");
  EXPECT_EQ(rusty.structs["ClusterStats"].fields["direct_greedy_cpus"].structName, "");
  EXPECT_EQ(rusty.structs["NodeStats"].fields["imbal"].desc, "load imbalance from average");
}

TEST(ScxStatsMetaTest, WrongShapes) {
  EXPECT_FALSE(parseScxStatsMeta(json("text")).isOk());
  EXPECT_FALSE(parseScxStatsMeta(json::array()).isOk());
  // Unknown parts are ignored rather than failing the scrape.
  auto m = parseScxStatsMeta(
      json::parse(R"js({"A": 3, "B": {"fields": [1]}, "C": {"fields": {"x": 1}}})js"));
  ASSERT_TRUE(m.isOk());
  EXPECT_EQ(m->structs.count("A"), 0u);
  EXPECT_TRUE(m->structs["B"].fields.empty());
  EXPECT_EQ(m->structs["C"].fields["x"].desc, "");
}

TEST(ScxStatsFlattenTest, LavdTopStruct) {
  auto r = flattenScxStats(json::parse(kLavdTop), metaOf(kLavdMeta), 2000);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->dropped, 0u);
  EXPECT_EQ(r->samples.size(), 8u);  // every field but the power_mode string
  const ScxStatsSample* s = find(*r, "schedkit_scx_nr_sched");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->value, 123456);
  EXPECT_TRUE(s->labels.empty());
  // HELP from SysStats (the struct the fields match), not SchedSample.
  EXPECT_EQ(s->help, "Number of context switches");
  EXPECT_EQ(find(*r, "schedkit_scx_pc_pc")->value, 12.5);
  EXPECT_EQ(find(*r, "schedkit_scx_nr_preempt")->help, "scx_stats nr_preempt");  // not in meta
  EXPECT_EQ(find(*r, "schedkit_scx_power_mode"), nullptr);
}

TEST(ScxStatsFlattenTest, RustyDictOfNodes) {
  auto r = flattenScxStats(json::parse(kRustyTop), metaOf(kRustyMeta), 2000);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(find(*r, "schedkit_scx_at_us")->value, 1750000000123456.0);
  EXPECT_EQ(find(*r, "schedkit_scx_cpu_busy")->help, "CPU busy % (100% means all CPU)");
  const ScxStatsSample* n0 = find(*r, "schedkit_scx_nodes_load", "0");
  ASSERT_NE(n0, nullptr);
  EXPECT_EQ(n0->value, 400.5);
  EXPECT_EQ(n0->help, "sum of weight * duty_cycle for all tasks");  // NodeStats.load
  EXPECT_EQ(find(*r, "schedkit_scx_nodes_imbal", "1")->value, 1.5);
  EXPECT_EQ(find(*r, "schedkit_scx_nodes_delta", "1")->help, "scx_stats nodes.<key>.delta");
  // Per-domain stats sit a level deeper; cpumask arrays are no gauges.
  for (const auto& s : r->samples) {
    EXPECT_EQ(s.name.find("doms"), std::string::npos) << s.name;
    EXPECT_EQ(s.name.find("greedy_cpus"), std::string::npos) << s.name;
  }
  EXPECT_EQ(r->samples.size(), 3u + 6u);  // at_us, cpu_busy, load; 2 nodes x 3
}

TEST(ScxStatsFlattenTest, DictOfNumbersIsKeyed) {
  auto r = flattenScxStats(
      json::parse(R"js({"layers": {"batch": 3, "interactive": 4.5, "x": "y"}})js"), {}, 2000);
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(r->samples.size(), 2u);
  EXPECT_EQ(find(*r, "schedkit_scx_layers", "batch")->value, 3);
  EXPECT_EQ(find(*r, "schedkit_scx_layers", "interactive")->value, 4.5);
}

TEST(ScxStatsFlattenTest, WrongTypesAreSkippedOrRejected) {
  for (const char* notAnObject : {"[1,2]", "\"text\"", "3", "null"}) {
    auto r = flattenScxStats(json::parse(notAnObject), {}, 2000);
    ASSERT_FALSE(r.isOk()) << notAnObject;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find("not an object"), std::string::npos);
  }
  auto r = flattenScxStats(
      json::parse(R"js({"s": "x", "n": null, "a": [1, 2], "t": true, "f": false, "neg": -7,
                      "big": 18446744073709551615, "o": {"p": [1], "q": {"r": {"z": 1}}}})js"),
      {}, 2000);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->samples.size(), 4u);
  EXPECT_EQ(find(*r, "schedkit_scx_t")->value, 1);
  EXPECT_EQ(find(*r, "schedkit_scx_f")->value, 0);
  EXPECT_EQ(find(*r, "schedkit_scx_neg")->value, -7);
  EXPECT_EQ(find(*r, "schedkit_scx_big")->value, 18446744073709551615.0);
}

TEST(ScxStatsFlattenTest, NanAndInfinityAreDropped) {
  json resp = {{"nan", std::nan("")},
               {"inf", std::numeric_limits<double>::infinity()},
               {"d", {{"k", {{"x", -std::numeric_limits<double>::infinity()}, {"y", 1}}}}},
               {"ok", 2}};
  auto r = flattenScxStats(resp, {}, 2000);
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(r->samples.size(), 2u);
  EXPECT_NE(find(*r, "schedkit_scx_ok"), nullptr);
  EXPECT_NE(find(*r, "schedkit_scx_d_y", "k"), nullptr);
  // serde_json writes NaN as null (skipped); it never writes an overflowing literal, which the
  // parser refuses.
  auto parsed = parseScxStatsResponse(R"js({"errno":0,"args":{"resp":{"a":null,"c":1}}})js");
  ASSERT_TRUE(parsed.isOk()) << parsed.status().toString();
  auto r2 = flattenScxStats(*parsed, {}, 2000);
  ASSERT_TRUE(r2.isOk());
  ASSERT_EQ(r2->samples.size(), 1u);
  EXPECT_EQ(r2->samples[0].name, "schedkit_scx_c");
  EXPECT_EQ(parseScxStatsResponse(R"js({"errno":0,"args":{"resp":{"b":1e999}}})js").status().code(),
            StatusCode::kInvalidArgument);
}

TEST(ScxStatsFlattenTest, HugeSampleCountsAreCapped) {
  json top = json::object();
  for (int i = 0; i < 5000; ++i) top["f" + std::to_string(i)] = i;
  json dict = json::object();
  for (int i = 0; i < 10000; ++i) dict[std::to_string(i)] = {{"a", i}, {"b", i}};
  top["cpus"] = dict;
  auto r = flattenScxStats(top, {}, 2000);
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->samples.size(), 2000u);
  EXPECT_EQ(r->dropped, 5000u + 20000u - 2000u);
}

TEST(ScxStatsFlattenTest, NamesAreSanitisedReservedAndDeduplicated) {
  auto r = flattenScxStats(
      json::parse(R"js({"a-b": 1, "a_b": 2, "": 3, "stats_up": 4, "stats_read_seconds": 5,
                      "é.x": 6, "d": {"k\n\"": {"x y": 7}}})js"),
      {}, 2000);
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(r->samples.size(), 3u);
  EXPECT_EQ(r->samples[0].name, "schedkit_scx_a_b");
  EXPECT_EQ(r->samples[0].value, 1);  // "a-b" sorts first and wins
  EXPECT_EQ(r->samples[1].name, "schedkit_scx_d_x_y");
  EXPECT_EQ(r->samples[1].labels[0].second, "k\n\"");  // the serializer escapes label values
  EXPECT_EQ(r->samples[2].name, "schedkit_scx____x");
}

TEST(ScxStatsFlattenTest, HelpTextIsOneBoundedLine) {
  json meta = json::parse(R"js({"T": {"top": "true", "fields": {"a": {"datum": "u64"}}}})js");
  meta["T"]["fields"]["a"]["desc"] = "two\nlines\t" + std::string(1000, 'x');
  auto r = flattenScxStats(json{{"a", 1}}, *parseScxStatsMeta(meta), 10);
  ASSERT_TRUE(r.isOk());
  ASSERT_EQ(r->samples.size(), 1u);
  EXPECT_EQ(r->samples[0].help.rfind("two lines ", 0), 0u);
  EXPECT_EQ(r->samples[0].help.size(), 256u);
  EXPECT_EQ(r->samples[0].help.find('\n'), std::string::npos);
}

TEST(ScxStatsTest, ErrorReasons) {
  EXPECT_EQ(scxStatsErrorReason(unavailable("x")), "connect");
  EXPECT_EQ(scxStatsErrorReason(notFound("x")), "connect");
  EXPECT_EQ(scxStatsErrorReason(deadlineExceeded("x")), "timeout");
  EXPECT_EQ(scxStatsErrorReason(dataLoss("x")), "io");
  EXPECT_EQ(scxStatsErrorReason(resourceExhausted("x")), "too_large");
  EXPECT_EQ(scxStatsErrorReason(invalidArgument("x")), "parse");
  EXPECT_EQ(scxStatsErrorReason(failedPrecondition("x")), "server_error");
}

TEST(ScxStatsTest, ImageDigest) {
  EXPECT_EQ(imageDigestOf("ghcr.io/x/lavd@sha256:abc"), "sha256:abc");
  EXPECT_EQ(imageDigestOf("oci:/var/lib/img@sha256:def"), "sha256:def");
  EXPECT_EQ(imageDigestOf("ghcr.io/x/lavd:1.0"), "");
  EXPECT_EQ(imageDigestOf(""), "");
}

// ---- the exchange, over a socketpair: the test plays the server, single-threaded ----

class ScxStatsExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    client_ = fds[0];
    server_ = fds[1];
  }
  void TearDown() override {
    ::close(client_);
    if (server_ >= 0) ::close(server_);
  }
  void serverSends(std::string_view s) {
    ASSERT_EQ(::write(server_, s.data(), s.size()), static_cast<ssize_t>(s.size()));
  }
  void serverStopsSending() { ASSERT_EQ(::shutdown(server_, SHUT_WR), 0); }
  void serverCloses() {
    ::close(server_);
    server_ = -1;
  }
  std::string serverReceived() {
    std::string out(4096, '\0');
    ssize_t n = ::recv(server_, out.data(), out.size(), MSG_DONTWAIT);
    out.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
    return out;
  }
  // A deadline of "now" on a clock that does not move: nothing is ever waited for.
  Result<std::string> exchange(std::size_t maxBytes = 4u << 20, bool* trailing = nullptr) {
    return scxStatsExchange(client_, scxStatsRequest(), clock_, clock_.now(), maxBytes, trailing);
  }

  SimClock clock_;
  int client_ = -1;
  int server_ = -1;
};

TEST_F(ScxStatsExchangeTest, GoodReply) {
  serverSends("{\"errno\":0,\"args\":{\"resp\":{\"mseq\":1}}}\n");
  bool trailing = true;
  auto line = exchange(4u << 20, &trailing);
  ASSERT_TRUE(line.isOk()) << line.status().toString();
  EXPECT_FALSE(trailing);
  EXPECT_EQ(serverReceived(), scxStatsRequest());
  auto resp = parseScxStatsResponse(*line);
  ASSERT_TRUE(resp.isOk());
  EXPECT_EQ((*resp)["mseq"], 1);
}

TEST_F(ScxStatsExchangeTest, GarbageIsAParseError) {
  serverSends("\x16\x03\x01garbage\n");
  auto line = exchange();
  ASSERT_TRUE(line.isOk());
  auto resp = parseScxStatsResponse(*line);
  ASSERT_FALSE(resp.isOk());
  EXPECT_EQ(scxStatsErrorReason(resp.status()), "parse");
  EXPECT_EQ(resp.status().message(), "response is not JSON: \"???garbage\"");
}

TEST_F(ScxStatsExchangeTest, NothingSentMeetsTheDeadline) {
  auto line = exchange();
  ASSERT_FALSE(line.isOk());
  EXPECT_EQ(line.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_EQ(line.status().message(), "no complete response line before the deadline");
}

TEST_F(ScxStatsExchangeTest, HalfALineMeetsTheDeadline) {
  serverSends("{\"errno\":0,");
  auto line = exchange();
  ASSERT_FALSE(line.isOk());
  EXPECT_EQ(line.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(line.status().message().find("(11 bytes so far)"), std::string::npos);
}

TEST_F(ScxStatsExchangeTest, TruncatedLineThenClose) {
  serverSends("{\"errno\":0,\"args\"");
  serverStopsSending();
  auto line = exchange();
  ASSERT_FALSE(line.isOk());
  EXPECT_EQ(line.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(line.status().message().find("connection closed after 17 bytes"), std::string::npos)
      << line.status().toString();
}

TEST_F(ScxStatsExchangeTest, ClosedBeforeAnswering) {
  serverStopsSending();
  auto line = exchange();
  ASSERT_FALSE(line.isOk());
  EXPECT_EQ(line.status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(line.status().message(), "connection closed before a response");
  serverCloses();  // now the send fails, without a SIGPIPE
  line = exchange();
  ASSERT_FALSE(line.isOk());
  EXPECT_EQ(line.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(line.status().message().find("EPIPE"), std::string::npos) << line.status().toString();
}

TEST_F(ScxStatsExchangeTest, OversizedLine) {
  serverSends(std::string(4096, 'x'));
  auto line = exchange(1024);
  ASSERT_FALSE(line.isOk());
  EXPECT_EQ(line.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(line.status().message(), "response line is longer than 1024 bytes");
  serverSends(std::string(2000, 'x') + "\n");  // the newline past the cap does not help
  EXPECT_EQ(exchange(1024).status().code(), StatusCode::kResourceExhausted);
}

TEST_F(ScxStatsExchangeTest, MoreThanOneLineIsFlagged) {
  serverSends("{\"errno\":0,\"args\":{\"resp\":{}}}\nextra\n");
  bool trailing = false;
  auto line = exchange(4u << 20, &trailing);
  ASSERT_TRUE(line.isOk());
  EXPECT_EQ(*line, "{\"errno\":0,\"args\":{\"resp\":{}}}");
  EXPECT_TRUE(trailing);
}

// ---- UnixScxStatsTransport against a unix socket in a temp dir ----

// A stats server on a thread: answers each request line with reply(line); nullopt closes the
// connection. Stops through a pipe, so nothing waits on time.
class TestStatsServer {
 public:
  using Reply = std::function<std::optional<std::string>(const std::string&)>;
  TestStatsServer(const std::string& path, Reply reply) : reply_(std::move(reply)) {
    listen_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    bound_ = ::bind(listen_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
             ::listen(listen_, 4) == 0 && ::pipe(stop_) == 0;
    if (bound_) thread_ = std::thread([this] { run(); });
  }
  ~TestStatsServer() {
    if (thread_.joinable()) {
      (void)!::write(stop_[1], "x", 1);
      thread_.join();
    }
    ::close(listen_);
    if (bound_) {
      ::close(stop_[0]);
      ::close(stop_[1]);
    }
  }
  bool bound() const { return bound_; }
  int accepts() const { return accepts_; }
  int requests() const { return requests_; }

 private:
  // Waits for fd or the stop pipe; false when stopping.
  bool wait(int fd) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop_[0], POLLIN, 0}};
    ::poll(p, 2, -1);
    return (p[1].revents & POLLIN) == 0;
  }
  void run() {
    while (wait(listen_)) {
      int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepts_;
      std::string buf;
      bool open = true;
      while (open && wait(c)) {
        char chunk[4096];
        ssize_t n = ::read(c, chunk, sizeof chunk);
        if (n <= 0) break;
        buf.append(chunk, static_cast<std::size_t>(n));
        for (std::size_t nl; open && (nl = buf.find('\n')) != std::string::npos;) {
          std::string line = buf.substr(0, nl + 1);
          buf.erase(0, nl + 1);
          ++requests_;
          auto out = reply_(line);
          if (!out) {
            open = false;
          } else if (!out->empty()) {
            (void)!::write(c, out->data(), out->size());
          }
        }
      }
      ::close(c);
    }
  }

  Reply reply_;
  int listen_ = -1;
  int stop_[2] = {-1, -1};
  bool bound_ = false;
  std::atomic<int> accepts_{0};
  std::atomic<int> requests_{0};
  std::thread thread_;
};

std::string answer(const json& resp) {
  return json{{"errno", 0}, {"args", {{"resp", resp}}}}.dump() + "\n";
}

class UnixTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-scx-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs_ = std::make_unique<HostFilesystem>(root_);
    ASSERT_TRUE(fs_->makeDirs("/run/scx/root").isOk());
    socket_ = fs_->resolve(kDefaultScxStatsSocket);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::unique_ptr<UnixScxStatsTransport> transport() {
    ScxStatsOptions o;
    o.timeout = std::chrono::seconds(30);  // a bound, never waited out: the server answers
    return std::make_unique<UnixScxStatsTransport>(*fs_, clock_, o);
  }

  SimClock clock_;
  std::string root_;
  std::string socket_;
  std::unique_ptr<HostFilesystem> fs_;
};

TEST_F(UnixTransportTest, NoSocketIsNotFound) {
  auto t = transport();
  EXPECT_FALSE(t->statSocket().has_value());
  auto r = t->call(scxStatsRequest());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  // A file that is no socket is not a stats server either.
  ASSERT_TRUE(fs_->writeFileAtomic(kDefaultScxStatsSocket, "x").isOk());
  EXPECT_FALSE(t->statSocket().has_value());
}

TEST_F(UnixTransportTest, StaleSocketRefuses) {
  {
    TestStatsServer gone(socket_, [](const std::string&) { return std::nullopt; });
  }
  auto t = transport();
  ASSERT_TRUE(t->statSocket().has_value());  // the file stays behind
  auto r = t->call(scxStatsRequest());
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("ECONNREFUSED"), std::string::npos) << r.status().toString();
}

TEST_F(UnixTransportTest, PersistentConnectionReconnectsAfterErrors) {
  std::atomic<int> mode{0};  // 0: good, 1: garbage, 2: close without answering
  std::atomic<int> seq{0};
  TestStatsServer server(socket_, [&](const std::string& req) -> std::optional<std::string> {
    if (mode == 2) return std::nullopt;
    if (mode == 1) return std::string("garbage\n");
    if (req == scxStatsMetaRequest()) return answer({{"SysStats", {{"top", "true"}}}});
    return answer({{"mseq", seq++}});
  });
  ASSERT_TRUE(server.bound());
  auto t = transport();
  auto a = t->statSocket();
  ASSERT_TRUE(a.has_value());

  auto r1 = t->call(scxStatsRequest());
  ASSERT_TRUE(r1.isOk()) << r1.status().toString();
  auto r2 = t->call(scxStatsMetaRequest());
  ASSERT_TRUE(r2.isOk()) << r2.status().toString();
  EXPECT_TRUE((*r2).contains("SysStats"));
  auto r3 = t->call(scxStatsRequest());
  ASSERT_TRUE(r3.isOk());
  EXPECT_EQ((*r3)["mseq"], 1);
  EXPECT_EQ(server.accepts(), 1);  // one connection for all three

  mode = 1;
  auto bad = t->call(scxStatsRequest());
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(scxStatsErrorReason(bad.status()), "parse");
  EXPECT_NE(bad.status().message().find("/run/scx/root/stats: response is not JSON"),
            std::string::npos)
      << bad.status().toString();

  mode = 0;
  ASSERT_TRUE(t->call(scxStatsRequest()).isOk());  // a new connection after the error
  EXPECT_EQ(server.accepts(), 2);

  // The server drops the idle connection on the next request: retried once on a new one,
  // which it drops too, so the call fails cleanly with an I/O error.
  mode = 2;
  auto closed = t->call(scxStatsRequest());
  ASSERT_FALSE(closed.isOk());
  EXPECT_EQ(scxStatsErrorReason(closed.status()), "io") << closed.status().toString();
  EXPECT_EQ(server.accepts(), 3);
}

// ---- the exporter, through AgentMetrics::render() ----

// A scripted stats socket; the test keeps a handle to the state the exporter's copy uses.
struct FakeScx {
  std::optional<ScxSocketFile> socket = ScxSocketFile{1, 100};
  std::function<Result<json>(std::string_view)> stats;
  Result<json> meta = json::parse(kLavdMeta);
  int statsCalls = 0, metas = 0, stat_calls = 0, disconnects = 0;
};

class FakeScxTransport final : public ScxStatsTransport {
 public:
  explicit FakeScxTransport(FakeScx& f) : f_(f) {}
  std::optional<ScxSocketFile> statSocket() const override {
    ++f_.stat_calls;
    return f_.socket;
  }
  Result<json> call(std::string_view req) override {
    if (req == scxStatsMetaRequest()) {
      ++f_.metas;
      return f_.meta;
    }
    EXPECT_EQ(req, scxStatsRequest());
    ++f_.statsCalls;
    return f_.stats(req);
  }
  void disconnect() override { ++f_.disconnects; }

 private:
  FakeScx& f_;
};

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

class ScxStatsMetricsTest : public ::testing::Test {
 protected:
  ScxStatsMetricsTest()
      : kernel_(clock_),
        host_(kernel_),
        log_(clock_, [this](std::string_view l) { logs_.emplace_back(l); }) {
    fake_.stats = [](std::string_view) -> Result<json> { return json::parse(kLavdTop); };
    running_.phase = policy::NodePhase::kRunning;
    running_.policy = "lavd";
    running_.kernel.release = "6.18.15+deb13-amd64";
    running_.active =
        policy::ActiveScheduler{"lavd_1.0.0", "ghcr.io/x/lavd@sha256:abc", 4242, 3, ""};
    fs_.put("/proc/sys/kernel/osrelease", "6.12.0-test\n");
  }
  std::unique_ptr<AgentMetrics> metrics(std::size_t maxSamples = 2000) {
    return std::make_unique<AgentMetrics>(
        host_,
        ScxStatsDeps{std::make_unique<FakeScxTransport>(fake_), fs_, clock_, log_, maxSamples});
  }
  int logsWith(const std::string& s) const {
    int n = 0;
    for (const auto& l : logs_) n += l.find(s) != std::string::npos;
    return n;
  }

  SimClock clock_;
  FakeKernel kernel_;
  FakeSchedExtHost host_;
  MemFilesystem fs_;
  std::vector<std::string> logs_;
  Logger log_;
  FakeScx fake_;
  policy::SchedulerNodeStateStatus running_;
};

constexpr const char* kIds =
    "image_digest=\"sha256:abc\",kernel_release=\"6.18.15+deb13-amd64\",policy=\"lavd\","
    "scheduler=\"lavd_1.0.0\"";

TEST_F(ScxStatsMetricsTest, AppearWhileRunningAndVanishWhenTheSchedulerStops) {
  auto m = metrics();
  // Idle: no read, not even a stat(); the error counters are there from the start.
  std::string text = m->render();
  EXPECT_EQ(fake_.stat_calls, 0);
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"timeout\"} 0")) << text;
  EXPECT_EQ(text.find("schedkit_scx_stats_up"), std::string::npos);

  m->onStatus(running_);
  text = m->render();
  EXPECT_TRUE(has(text, "# HELP schedkit_scx_nr_sched Number of context switches")) << text;
  EXPECT_TRUE(has(text, "# TYPE schedkit_scx_nr_sched gauge"));
  EXPECT_TRUE(has(text, std::string("schedkit_scx_nr_sched{") + kIds + "} 123456")) << text;
  EXPECT_TRUE(has(text, std::string("schedkit_scx_pc_pc{") + kIds + "} 12.5"));
  EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_up{") + kIds + "} 1"));
  EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_read_seconds{") + kIds + "} 0"));
  EXPECT_EQ(text.find("schedkit_scx_power_mode"), std::string::npos);
  EXPECT_EQ(logsWith("reading the scheduler's scx stats"), 1);

  m->render();
  EXPECT_EQ(fake_.statsCalls, 2);
  EXPECT_EQ(fake_.metas, 1);  // once per scheduler instance
  EXPECT_EQ(fake_.disconnects, 0);
  EXPECT_EQ(logsWith("reading the scheduler's scx stats"), 1);

  auto stopped = running_;
  stopped.phase = policy::NodePhase::kFallenBack;
  stopped.active.reset();
  m->onStatus(stopped);
  int stats = fake_.stat_calls;
  text = m->render();
  EXPECT_EQ(text.find("schedkit_scx_nr_sched"), std::string::npos) << text;
  EXPECT_EQ(text.find("schedkit_scx_stats_up"), std::string::npos);
  EXPECT_EQ(fake_.stat_calls, stats);
  EXPECT_EQ(fake_.disconnects, 1);
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"parse\"} 0"));
}

TEST_F(ScxStatsMetricsTest, NoSocketCostsOneStat) {
  fake_.socket.reset();
  auto m = metrics();
  m->onStatus(running_);
  std::string text = m->render();
  m->render();
  EXPECT_EQ(fake_.stat_calls, 2);
  EXPECT_EQ(fake_.statsCalls, 0);
  EXPECT_EQ(text.find("schedkit_scx_stats_up"), std::string::npos);
  EXPECT_EQ(text.find("schedkit_scx_nr_sched"), std::string::npos);
}

TEST_F(ScxStatsMetricsTest, StaleSocketIsIgnoredUntilReplaced) {
  fake_.stats = [](std::string_view) -> Result<json> {
    return notFound("connecting to /run/scx/root/stats: Connection refused (ECONNREFUSED)");
  };
  auto m = metrics();
  m->onStatus(running_);
  std::string text = m->render();
  m->render();
  EXPECT_EQ(fake_.statsCalls, 1);  // not retried while the same file sits there
  EXPECT_EQ(text.find("schedkit_scx_stats_up"), std::string::npos) << text;
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"connect\"} 0"));
  EXPECT_EQ(logsWith("refuses connections"), 1);

  fake_.socket = ScxSocketFile{1, 101};  // the scheduler bound a new socket
  fake_.stats = [](std::string_view) -> Result<json> { return json::parse(kLavdTop); };
  text = m->render();
  EXPECT_EQ(fake_.statsCalls, 2);
  EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_up{") + kIds + "} 1")) << text;
}

TEST_F(ScxStatsMetricsTest, FailuresCountAndLogOncePerStateChange) {
  Result<json> next = deadlineExceeded("no complete response line before the deadline");
  fake_.stats = [&](std::string_view) { return next; };
  auto m = metrics();
  m->onStatus(running_);
  m->render();
  std::string text = m->render();
  EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_up{") + kIds + "} 0")) << text;
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"timeout\"} 2"));
  EXPECT_EQ(text.find("schedkit_scx_nr_sched"), std::string::npos);
  EXPECT_EQ(logsWith("cannot read the scheduler's scx stats"), 1);
  EXPECT_EQ(fake_.metas, 0);  // asked only once stats answer

  next = json("not an object");  // another reason: logged again
  text = m->render();
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"parse\"} 1")) << text;
  EXPECT_EQ(logsWith("cannot read the scheduler's scx stats"), 2);

  next = failedPrecondition("scx_stats server error: Invalid argument (EINVAL): preempted");
  m->render();
  text = m->render();
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"server_error\"} 2")) << text;
  EXPECT_EQ(logsWith("cannot read the scheduler's scx stats"), 3);

  next = json::parse(kLavdTop);
  text = m->render();
  m->render();
  EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_up{") + kIds + "} 1")) << text;
  EXPECT_EQ(logsWith("readable again"), 1);
  EXPECT_TRUE(has(text, "schedkit_scx_stats_errors_total{reason=\"timeout\"} 2"));
}

TEST_F(ScxStatsMetricsTest, NewInstanceAsksForMetaAgain) {
  auto m = metrics();
  m->onStatus(running_);
  m->render();
  auto restarted = running_;
  restarted.active->pid = 4343;
  restarted.active->enableSeq = 4;
  m->onStatus(restarted);
  m->render();
  EXPECT_EQ(fake_.metas, 2);
  EXPECT_EQ(fake_.disconnects, 1);
}

TEST_F(ScxStatsMetricsTest, NoMetaMeansGenericHelp) {
  fake_.meta = failedPrecondition("scx_stats server error: Invalid argument (EINVAL): unknown");
  auto m = metrics();
  m->onStatus(running_);
  std::string text = m->render();
  EXPECT_TRUE(has(text, "# HELP schedkit_scx_nr_sched scx_stats nr_sched")) << text;
  EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_up{") + kIds + "} 1"));
  m->render();
  EXPECT_EQ(fake_.metas, 1);
}

TEST_F(ScxStatsMetricsTest, HostPathDictsAndOsReleaseFallback) {
  fake_.stats = [](std::string_view) -> Result<json> { return json::parse(kRustyTop); };
  fake_.meta = json::parse(kRustyMeta);
  running_.active->image = "";
  running_.active->opsName = "rusty";
  running_.kernel.release = "";
  auto m = metrics();
  m->onStatus(running_);
  std::string text = m->render();
  EXPECT_TRUE(
      has(text,
          "schedkit_scx_nodes_load{image_digest=\"\",kernel_release=\"6.12.0-test\",key=\"1\","
          "policy=\"lavd\",scheduler=\"rusty\"} 411.75"))
      << text;
  EXPECT_TRUE(has(text, "# HELP schedkit_scx_nodes_load sum of weight * duty_cycle for all tasks"));
  // The text format escapes backslashes in HELP; the serializer leaves that to us.
  EXPECT_TRUE(has(text, "# HELP schedkit_scx_at_us time\\\\stamp")) << text;
}

TEST_F(ScxStatsMetricsTest, TruncationIsLoggedOnce) {
  auto m = metrics(/*maxSamples=*/3);
  m->onStatus(running_);
  std::string text = m->render();
  m->render();
  EXPECT_EQ(logsWith("the rest are dropped"), 1);
  int gauges = 0;
  for (std::size_t p = 0; (p = text.find("# TYPE schedkit_scx_", p)) != std::string::npos; ++p) {
    ++gauges;
  }
  EXPECT_EQ(gauges, 3 + 3);  // three stats, up, read_seconds, errors_total
}

TEST_F(ScxStatsMetricsTest, EndToEndOverAUnixSocket) {
  char tmpl[] = "/tmp/schedkit-scx-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  std::string root = tmpl;
  HostFilesystem fs(root);
  ASSERT_TRUE(fs.makeDirs("/run/scx/root").isOk());
  {
    TestStatsServer server(fs.resolve("/run/scx/root/stats"),
                           [](const std::string& req) -> std::optional<std::string> {
                             if (req == scxStatsMetaRequest())
                               return answer(json::parse(kLavdMeta));
                             return answer(json::parse(kLavdTop));
                           });
    ASSERT_TRUE(server.bound());
    ScxStatsOptions o;
    o.timeout = std::chrono::seconds(30);
    AgentMetrics m(host_, ScxStatsDeps{std::make_unique<UnixScxStatsTransport>(fs, clock_, o), fs,
                                       clock_, log_, o.maxSamples});
    m.onStatus(running_);
    std::string text = m.render();
    EXPECT_TRUE(has(text, std::string("schedkit_scx_nr_queued_task{") + kIds + "} 3")) << text;
    EXPECT_TRUE(
        has(text, "# HELP schedkit_scx_nr_queued_task Number of runnable tasks in runqueues"));
    EXPECT_TRUE(has(text, std::string("schedkit_scx_stats_up{") + kIds + "} 1"));
    m.render();
    EXPECT_EQ(server.accepts(), 1);
    EXPECT_EQ(server.requests(), 3);  // stats, stats_meta, stats
  }
  std::filesystem::remove_all(root);
}

}  // namespace
}  // namespace schedkit::agent
