#include "server/tls.h"

#include <grpcpp/security/server_credentials.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/flag_file.h"

namespace notifyd::server {
namespace {

// The reason OpenSSL gave for the last failure, for the error message.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  const char* reason = code == 0 ? nullptr : ERR_reason_error_string(code);
  return reason == nullptr ? "unknown error" : reason;
}

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioDeleter> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioDeleter>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

std::unique_ptr<X509, X509Deleter> ParseCertificate(const std::string& pem) {
  auto bio = MemoryBio(pem);
  return std::unique_ptr<X509, X509Deleter>(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Checks that the certificate and key parse and belong together.
absl::Status CheckPair(const TlsFiles& files, const std::string& cert_pem,
                       const std::string& key_pem) {
  auto cert = ParseCertificate(cert_pem);
  if (!cert) {
    return absl::InvalidArgumentError(
        absl::StrCat("--tls_cert=", files.cert_file,
                     " is not a PEM certificate: ", OpenSslReason()));
  }
  auto bio = MemoryBio(key_pem);
  std::unique_ptr<EVP_PKEY, KeyDeleter> key(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key=", files.key_file,
        " is not an unencrypted PEM private key: ", OpenSslReason()));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "--tls_key=", files.key_file,
        " does not match the certificate in --tls_cert=", files.cert_file));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const TlsFiles& files) {
  if (files.cert_file.empty() && files.key_file.empty()) {
    if (!files.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca needs --tls_cert and --tls_key (mutual TLS is "
          "TLS first)");
    }
    return grpc::InsecureServerCredentials();
  }
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "give both --tls_cert and --tls_key, or neither");
  }
  absl::StatusOr<std::string> cert = ReadFlagFile("tls_cert", files.cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFlagFile("tls_key", files.key_file);
  if (!key.ok()) return key.status();
  if (absl::Status s = CheckPair(files, *cert, *key); !s.ok()) return s;

  grpc::SslServerCredentialsOptions options;
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!files.client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadFlagFile("tls_client_ca", files.client_ca_file);
    if (!ca.ok()) return ca.status();
    if (!ParseCertificate(*ca)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--tls_client_ca=", files.client_ca_file,
                       " is not a PEM certificate: ", OpenSslReason()));
    }
    options.pem_root_certs = *ca;
    options.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

}  // namespace notifyd::server
