#include "schedkit/common/status.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace schedkit {
namespace {

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(s.toString(), "OK");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = notFound("no such policy").withContext("loading policies");
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "loading policies: no such policy");
  EXPECT_EQ(s.toString(), "NOT_FOUND: loading policies: no such policy");
}

TEST(StatusTest, WithContextOnOkIsOk) { EXPECT_TRUE(Status::ok().withContext("x").isOk()); }

struct ErrnoCase {
  int err;
  StatusCode code;
  const char* name;
};
class FromErrnoTest : public ::testing::TestWithParam<ErrnoCase> {};

TEST_P(FromErrnoTest, MapsCodeAndNamesErrno) {
  const auto& c = GetParam();
  // libbpf returns negative errno; plain syscalls positive: both must map the same.
  for (int e : {c.err, -c.err}) {
    Status s = fromErrno(e, "attaching struct_ops");
    EXPECT_EQ(s.code(), c.code);
    EXPECT_NE(s.message().find("attaching struct_ops: "), std::string::npos);
    EXPECT_NE(s.message().find(c.name), std::string::npos) << s.message();
  }
}

INSTANTIATE_TEST_SUITE_P(Errnos, FromErrnoTest,
                         ::testing::Values(ErrnoCase{EBUSY, StatusCode::kUnavailable, "EBUSY"},
                                           ErrnoCase{ENOENT, StatusCode::kNotFound, "ENOENT"},
                                           ErrnoCase{EPERM, StatusCode::kPermissionDenied, "EPERM"},
                                           ErrnoCase{EINVAL, StatusCode::kInvalidArgument, "EINVAL"},
                                           ErrnoCase{E2BIG, StatusCode::kInvalidArgument, "E2BIG"},
                                           ErrnoCase{ENOMEM, StatusCode::kResourceExhausted, "ENOMEM"},
                                           ErrnoCase{EIO, StatusCode::kInternal, "EIO"}));

Result<int> half(int v) {
  if (v % 2 != 0) return invalidArgument("odd");
  return v / 2;
}

Result<int> quarter(int v) {
  SK_ASSIGN_OR_RETURN(int h, half(v));
  SK_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

TEST(ResultTest, HoldsValueOrStatus) {
  auto ok = half(8);
  ASSERT_TRUE(ok.isOk());
  EXPECT_EQ(*ok, 4);
  auto bad = half(3);
  ASSERT_FALSE(bad.isOk());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.valueOr(-1), -1);
}

TEST(ResultTest, AssignOrReturnPropagatesFirstError) {
  EXPECT_EQ(*quarter(12), 3);
  auto r = quarter(6);  // 6/2 = 3 is odd
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().message(), "odd");
}

Status check(bool good) {
  SK_RETURN_IF_ERROR(good ? Status::ok() : aborted("stop"));
  return alreadyExists("reached the end");
}

TEST(ResultTest, ReturnIfErrorStopsEarly) {
  EXPECT_EQ(check(false).code(), StatusCode::kAborted);
  EXPECT_EQ(check(true).code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace schedkit
