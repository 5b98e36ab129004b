#include "schedkit/kube/config.h"

#include <gtest/gtest.h>

#include "fakes/mem_filesystem.h"

namespace schedkit::kube {
namespace {

// "-----BEGIN CERTIFICATE-----\nCA\n" and friends, base64-encoded as kubeconfigs carry them.
constexpr const char* kCaData = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==";
constexpr const char* kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n";

constexpr const char* kKubeconfig = R"(
apiVersion: v1
kind: Config
current-context: admin@test
clusters:
- name: test
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCg==
- name: files
  cluster:
    server: https://api.example:443
    certificate-authority: pki/ca.crt
    tls-server-name: kubernetes.default.svc
- name: insecure
  cluster:
    server: https://10.0.2.2:6443
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: node
  user:
    client-certificate: /abs/node.crt
    client-key: rel/node.key
- name: sa
  user:
    tokenFile: token
- name: static
  user:
    token: abc.def
- name: plugin
  user:
    exec:
      command: aws
contexts:
- name: admin@test
  context: {cluster: test, user: admin}
- name: node@files
  context: {cluster: files, user: node, namespace: kube-system}
- name: sa@insecure
  context: {cluster: insecure, user: sa}
- name: static@test
  context: {cluster: test, user: static}
- name: plugin@test
  context: {cluster: test, user: plugin}
- name: dangling
  context: {cluster: nowhere, user: admin}
)";

TEST(KubeconfigTest, CurrentContextWithInlineData) {
  auto c = parseKubeconfig(kKubeconfig, "/home/u/.kube");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(c->tls.caPem, kCaPem);
  EXPECT_EQ(c->tls.clientCertPem, "cert");
  EXPECT_EQ(c->tls.clientKeyPem, "key");
  EXPECT_TRUE(c->tls.caFile.empty());
  EXPECT_FALSE(c->tls.insecureSkipVerify);
  EXPECT_EQ(c->defaultNamespace, "default");
  EXPECT_TRUE(c->token.empty());
}

TEST(KubeconfigTest, FilesAreRelativeToTheKubeconfig) {
  auto c = parseKubeconfig(kKubeconfig, "/home/u/.kube", "node@files");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->server, "https://api.example:443");
  EXPECT_EQ(c->tls.caFile, "/home/u/.kube/pki/ca.crt");
  EXPECT_EQ(c->tls.serverName, "kubernetes.default.svc");
  EXPECT_EQ(c->tls.clientCertFile, "/abs/node.crt");
  EXPECT_EQ(c->tls.clientKeyFile, "/home/u/.kube/rel/node.key");
  EXPECT_EQ(c->defaultNamespace, "kube-system");
}

TEST(KubeconfigTest, TokensAndInsecure) {
  auto sa = parseKubeconfig(kKubeconfig, "/k", "sa@insecure");
  ASSERT_TRUE(sa.isOk()) << sa.status().toString();
  EXPECT_TRUE(sa->tls.insecureSkipVerify);
  EXPECT_EQ(sa->tokenFile, "/k/token");
  auto st = parseKubeconfig(kKubeconfig, "/k", "static@test");
  ASSERT_TRUE(st.isOk());
  EXPECT_EQ(st->token, "abc.def");
  EXPECT_TRUE(st->tokenFile.empty());
}

TEST(KubeconfigTest, ErrorsSayWhatIsWrong) {
  EXPECT_EQ(parseKubeconfig(kKubeconfig, "/k", "plugin@test").status().code(),
            StatusCode::kUnimplemented);
  EXPECT_EQ(parseKubeconfig(kKubeconfig, "/k", "missing").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(parseKubeconfig(kKubeconfig, "/k", "dangling").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(parseKubeconfig("clusters: [", "/k").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(parseKubeconfig("apiVersion: v1\n", "/k").status().code(),
            StatusCode::kFailedPrecondition);
  auto bad = parseKubeconfig(R"(
current-context: c
clusters: [{name: x, cluster: {server: "https://h", certificate-authority-data: "!!"}}]
contexts: [{name: c, context: {cluster: x}}]
)",
                             "/k");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("certificate-authority-data"), std::string::npos);
}

TEST(KubeconfigTest, LoadReadsThroughTheFilesystem) {
  MemFilesystem fs;
  fs.put("/etc/schedkit/kubeconfig", kKubeconfig);
  auto c = loadKubeconfig(fs, "/etc/schedkit/kubeconfig", "node@files");
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->tls.caFile, "/etc/schedkit/pki/ca.crt");
  EXPECT_NE(c->source.find("/etc/schedkit/kubeconfig"), std::string::npos);
  EXPECT_EQ(loadKubeconfig(fs, "/nope").status().code(), StatusCode::kNotFound);
}

EnvLookup envOf(std::map<std::string, std::string> m) {
  return [m](const std::string& k) -> std::optional<std::string> {
    auto it = m.find(k);
    if (it == m.end()) return std::nullopt;
    return it->second;
  };
}

TEST(InClusterTest, UsesTheServiceAccountFiles) {
  MemFilesystem fs;
  fs.put("/var/run/secrets/kubernetes.io/serviceaccount/token", "tok");
  fs.put("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", kCaPem);
  fs.put("/var/run/secrets/kubernetes.io/serviceaccount/namespace", "schedkit-system\n");
  auto c = inClusterConfig(
      fs, envOf({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(c.isOk()) << c.status().toString();
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->tls.caFile, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
  EXPECT_EQ(c->tokenFile, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_TRUE(c->token.empty());  // read by the client, so rotation is seen
  EXPECT_EQ(c->defaultNamespace, "schedkit-system");
  auto v6 = inClusterConfig(
      fs, envOf({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}));
  ASSERT_TRUE(v6.isOk());
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");
}

TEST(InClusterTest, OutsideAPodIsAPreconditionFailure) {
  MemFilesystem fs;
  EXPECT_EQ(inClusterConfig(fs, envOf({})).status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(inClusterConfig(fs, envOf({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                       {"KUBERNETES_SERVICE_PORT", "443"}}))
                .status()
                .code(),
            StatusCode::kFailedPrecondition);
}

TEST(LoadConfigTest, ExplicitThenKubeconfigEnvThenInClusterThenHome) {
  MemFilesystem fs;
  fs.put("/explicit", kKubeconfig);
  fs.put("/from-env", kKubeconfig);
  fs.put("/home/u/.kube/config", kKubeconfig);
  fs.put("/var/run/secrets/kubernetes.io/serviceaccount/token", "tok");
  fs.put("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt", kCaPem);
  auto env = envOf({{"KUBECONFIG", "/from-env:/other"},
                    {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                    {"KUBERNETES_SERVICE_PORT", "443"},
                    {"HOME", "/home/u"}});
  EXPECT_NE(loadConfig(fs, env, "/explicit")->source.find("/explicit"), std::string::npos);
  EXPECT_NE(loadConfig(fs, env)->source.find("/from-env"), std::string::npos);
  auto no_kc = envOf({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                      {"KUBERNETES_SERVICE_PORT", "443"},
                      {"HOME", "/home/u"}});
  EXPECT_EQ(loadConfig(fs, no_kc)->source, "in-cluster");
  EXPECT_NE(loadConfig(fs, envOf({{"HOME", "/home/u"}}))->source.find("/home/u/.kube/config"),
            std::string::npos);
  EXPECT_FALSE(loadConfig(fs, envOf({})).isOk());
}

struct B64Case {
  std::string in;
  bool ok;
  std::string out;
};
class Base64Test : public ::testing::TestWithParam<B64Case> {};
TEST_P(Base64Test, Decodes) {
  auto r = base64Decode(GetParam().in);
  ASSERT_EQ(r.isOk(), GetParam().ok);
  if (r.isOk()) {
    EXPECT_EQ(*r, GetParam().out);
  }
}
INSTANTIATE_TEST_SUITE_P(Cases, Base64Test,
                         ::testing::Values(B64Case{"", true, ""}, B64Case{"Zg==", true, "f"},
                                           B64Case{"Zm8=", true, "fo"},
                                           B64Case{"Zm9v", true, "foo"},
                                           B64Case{"Zm9v\nYmFy", true, "foobar"},
                                           B64Case{"Zm9vYg", true, "foob"}, B64Case{"Z", false, ""},
                                           B64Case{"Zm9v!", false, ""},
                                           B64Case{"Zg==Zg", false, ""}));

}  // namespace
}  // namespace schedkit::kube
