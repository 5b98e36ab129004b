#pragma once

#include <string_view>

namespace schedkit::oci::media {

inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayerTar = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kOciLayerNdTar =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr std::string_view kOciLayerNdGzip =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr std::string_view kOciLayerNdZstd =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr std::string_view kOciEmpty = "application/vnd.oci.empty.v1+json";

inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr std::string_view kDockerLayerForeignGzip =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// cosign's simple-signing payload layer.
inline constexpr std::string_view kCosignSimpleSigning =
    "application/vnd.dev.cosign.simplesigning.v1+json";

// The Accept header for manifest requests: every manifest kind schedkit understands.
inline constexpr std::string_view kManifestAccept =
    "application/vnd.oci.image.index.v1+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.docker.distribution.manifest.v2+json";

enum class LayerCompression { kNone, kGzip, kZstd };

bool isManifest(std::string_view mt);  // an image manifest (OCI or Docker schema 2)
bool isIndex(std::string_view mt);     // an index / manifest list
bool isConfig(std::string_view mt);
// Whether mt names a tar layer schedkit can unpack; sets `c` when it does.
bool isLayer(std::string_view mt, LayerCompression* c = nullptr);

}  // namespace schedkit::oci::media
