#pragma once

#include <string>
#include <string_view>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"

namespace schedkit::oci {

// An image reference, normalised the way Docker and containerd do it:
//   "ubuntu"                         → docker.io/library/ubuntu:latest
//   "registry:5000/team/img:v1"      → registry:5000/team/img:v1
//   "host/img@sha256:…"             → digest-pinned (a tag may be given too; the digest wins)
//   "oci:/path/to/layout[:tag]"      → an OCI image layout on disk (tag defaults to "latest"
//                                      when the layout has several images, else its only one)
struct Reference {
  // Registry references.
  std::string registry;    // "docker.io", "127.0.0.1:5000", "ghcr.io"
  std::string repository;  // "library/ubuntu", "team/img"
  std::string tag;         // empty when only a digest is given
  Digest digest;           // empty unless pinned
  // OCI layout references ("oci:" transport).
  std::string layoutPath;  // non-empty for oci: references

  bool isLayout() const { return !layoutPath.empty(); }
  bool pinned() const { return !digest.empty(); }
  // The tag or digest to ask the registry for ("v1" or "sha256:…").
  std::string tagOrDigest() const;
  // The host to connect to: docker.io is served by registry-1.docker.io.
  std::string apiHost() const;
  // registry/repository, without tag or digest.
  std::string repositoryName() const;
  // Full normalised form: registry/repo:tag, registry/repo@sha256:…, registry/repo:tag@sha256:…,
  // or oci:/path[:tag][@sha256:…].
  std::string toString() const;
  // The same image pinned to `d` (tag dropped): what status reports and what nodes run.
  Reference withDigest(const Digest& d) const;

  friend bool operator==(const Reference&, const Reference&) = default;
};

Result<Reference> parseReference(std::string_view s);

// Whether a registry host (with optional :port) is a loopback address: localhost, 127.0.0.0/8,
// [::1]. Plain HTTP is only ever used for these unless explicitly allowed.
bool isLoopbackHost(std::string_view registry);

}  // namespace schedkit::oci
