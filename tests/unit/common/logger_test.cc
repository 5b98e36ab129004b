#include "schedkit/common/logger.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <vector>

namespace schedkit {
namespace {

struct Capture {
  std::vector<std::string> lines;
  Logger::Sink sink() {
    return [this](std::string_view l) { lines.emplace_back(l); };
  }
};

TEST(LoggerTest, TextLineHasTimeLevelMessageAndQuotedFields) {
  SimClock clock;
  Capture cap;
  Logger log(clock, cap.sink(), LogFormat::kText, LogLevel::kInfo);
  log.info("scheduler attached", {{"ops", "fifo_test"}, {"seq", 7}, {"reason", "runnable task stall"}});
  ASSERT_EQ(cap.lines.size(), 1u);
  const std::string& l = cap.lines[0];
  EXPECT_NE(l.find(" info scheduler attached ops=fifo_test seq=7 reason=\"runnable task stall\"\n"),
            std::string::npos)
      << l;
  EXPECT_EQ(l.substr(0, 4), formatRfc3339Micro(clock.wallNow()).substr(0, 4));
}

TEST(LoggerTest, JsonLineIsValidJsonWithTypedFields) {
  SimClock clock;
  Capture cap;
  Logger log(clock, cap.sink(), LogFormat::kJson, LogLevel::kDebug);
  log.with({{"component", "node"}})
      .warn("fallback \"detected\"\n", {{"kind", 1026}, {"ok", false}, {"msg", "a\tb"}});
  // A field named like a reserved key must not produce a duplicate JSON key.
  ASSERT_EQ(cap.lines.size(), 1u);
  auto j = nlohmann::json::parse(cap.lines[0]);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["msg"], "fallback \"detected\"\n");
  EXPECT_EQ(j["component"], "node");
  EXPECT_EQ(j["kind"], 1026);
  EXPECT_EQ(j["ok"], false);
  EXPECT_EQ(j["field.msg"], "a\tb");
  EXPECT_EQ(j["ts"], formatRfc3339Micro(clock.wallNow()));
}

TEST(LoggerTest, LevelFiltersLowerLevels) {
  SimClock clock;
  Capture cap;
  Logger log(clock, cap.sink(), LogFormat::kText, LogLevel::kWarn);
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  EXPECT_EQ(cap.lines.size(), 2u);
  EXPECT_FALSE(log.enabled(LogLevel::kInfo));
}

TEST(LoggerTest, ParseLevelAndFormat) {
  EXPECT_EQ(*parseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(*parseLogLevel("warning"), LogLevel::kWarn);
  EXPECT_FALSE(parseLogLevel("loud").isOk());
  EXPECT_EQ(*parseLogFormat("json"), LogFormat::kJson);
  EXPECT_FALSE(parseLogFormat("xml").isOk());
}

}  // namespace
}  // namespace schedkit
