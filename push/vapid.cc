#include "push/vapid.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/flag_file.h"

namespace notifyd::push {
namespace {

using BioPtr = OpenSslPtr<BIO, BIO_free>;

// Never prompt for a passphrase: an encrypted key is an error.
int NoPassphrase(char*, int, int, void*) { return 0; }

std::string Base64Url(absl::string_view bytes) {
  return absl::WebSafeBase64Escape(bytes);
}

}  // namespace

absl::StatusOr<VapidKey> VapidKey::FromPkey(PkeyPtr key) {
  if (!IsP256(key.get())) {
    const bool ec = EVP_PKEY_is_a(key.get(), "EC");
    return absl::InvalidArgumentError(absl::StrCat(
        "the VAPID key is ",
        ec ? "on another elliptic curve"
           : absl::StrCat("a ", EVP_PKEY_get0_type_name(key.get()), " key"),
        "; VAPID needs an EC P-256 (prime256v1) key (notifyctl vapid-keygen "
        "makes one)"));
  }
  absl::StatusOr<std::string> point = P256Point(key.get());
  if (!point.ok()) return point.status();
  return VapidKey(std::shared_ptr<EVP_PKEY>(key.release(), EVP_PKEY_free),
                  *std::move(point));
}

absl::StatusOr<VapidKey> VapidKey::FromPem(absl::string_view pem) {
  if (absl::StrContains(pem, "ENCRYPTED")) {
    return absl::InvalidArgumentError(
        "the VAPID key is encrypted; notifyd reads an unencrypted PEM key "
        "(keep the file mode 0600)");
  }
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return OpenSslError("reading the VAPID key");
  EVP_PKEY* raw =
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr);
  ERR_clear_error();
  if (raw == nullptr) {
    if (absl::StrContains(pem, "PUBLIC KEY-----")) {
      return absl::InvalidArgumentError(
          "the VAPID key file holds only a public key; notifyd needs the "
          "private key (notifyctl vapid-keygen makes one)");
    }
    return absl::InvalidArgumentError(
        "the VAPID key file holds no PEM private key (notifyctl "
        "vapid-keygen makes one)");
  }
  return FromPkey(PkeyPtr(raw));
}

absl::StatusOr<VapidKey> VapidKey::FromFile(const std::string& path) {
  absl::StatusOr<std::string> pem = ReadFlagFile("vapid_key_file", path);
  if (!pem.ok()) return pem.status();
  absl::StatusOr<VapidKey> key = FromPem(*pem);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--vapid_key_file=", path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<VapidKey> VapidKey::Generate() {
  absl::StatusOr<PkeyPtr> key = GenerateP256Key();
  if (!key.ok()) return key.status();
  return FromPkey(*std::move(key));
}

absl::StatusOr<std::string> VapidKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr,
                                       0, nullptr, nullptr) != 1) {
    return OpenSslError("writing the VAPID key");
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string VapidKey::public_key_base64url() const {
  return Base64Url(public_key_);
}

absl::StatusOr<std::string> VapidKey::SignEs256(absl::string_view input) const {
  OpenSslPtr<EVP_MD_CTX, EVP_MD_CTX_free> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  const auto* bytes = reinterpret_cast<const unsigned char*>(input.data());
  if (!ctx ||
      EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr,
                         key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, bytes, input.size()) != 1) {
    return OpenSslError("ES256 signing");
  }
  std::vector<unsigned char> der(length);
  if (EVP_DigestSign(ctx.get(), der.data(), &length, bytes, input.size()) !=
      1) {
    return OpenSslError("ES256 signing");
  }
  // OpenSSL gives DER (SEQUENCE of r, s); JWS wants the two 32-byte
  // big-endian integers side by side (RFC 7518 section 3.4).
  const unsigned char* p = der.data();
  OpenSslPtr<ECDSA_SIG, ECDSA_SIG_free> sig(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(length)));
  if (!sig) return OpenSslError("decoding an ES256 signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out(2 * kP256ScalarBytes, '\0');
  auto* out_bytes = reinterpret_cast<unsigned char*>(out.data());
  if (BN_bn2binpad(r, out_bytes, kP256ScalarBytes) != kP256ScalarBytes ||
      BN_bn2binpad(s, out_bytes + kP256ScalarBytes, kP256ScalarBytes) !=
          kP256ScalarBytes) {
    return OpenSslError("encoding an ES256 signature");
  }
  return out;
}

absl::Status ValidateVapidSubject(absl::string_view subject) {
  auto invalid = [](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the VAPID subject (--vapid_subject) ", why,
        ": give a mailto: address or an https: URL where the push service "
        "can reach the operator"));
  };
  if (subject.empty()) return invalid("is empty");
  if (subject.size() > kMaxVapidSubjectBytes) {
    return invalid(
        absl::StrCat("is longer than ", kMaxVapidSubjectBytes, " bytes"));
  }
  for (char c : subject) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) {
      return invalid("contains a space or control character");
    }
  }
  absl::string_view rest = subject;
  if (absl::ConsumePrefix(&rest, "mailto:")) {
    const size_t at = rest.find('@');
    if (at == 0 || at == absl::string_view::npos || at + 1 == rest.size()) {
      return invalid("is not a mailto: address (user@host)");
    }
    return absl::OkStatus();
  }
  auto url = boost::urls::parse_absolute_uri(
      std::string_view(subject.data(), subject.size()));
  if (!url || url->scheme_id() != boost::urls::scheme::https ||
      url->encoded_host().empty()) {
    return invalid("is neither a mailto: address nor an https: URL");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> MakeVapidJwt(const VapidKey& key,
                                         absl::string_view audience,
                                         absl::string_view subject,
                                         absl::Time expires) {
  boost::json::object header{{"typ", "JWT"}, {"alg", "ES256"}};
  boost::json::object claims{
      {"aud", boost::json::string_view(audience.data(), audience.size())},
      {"exp", absl::ToUnixSeconds(expires)},
      {"sub", boost::json::string_view(subject.data(), subject.size())}};
  std::string input =
      absl::StrCat(Base64Url(boost::json::serialize(header)), ".",
                   Base64Url(boost::json::serialize(claims)));
  absl::StatusOr<std::string> signature = key.SignEs256(input);
  if (!signature.ok()) return signature.status();
  return absl::StrCat(input, ".", Base64Url(*signature));
}

absl::StatusOr<std::unique_ptr<VapidSigner>> VapidSigner::Create(
    VapidKey key, std::string subject, std::function<absl::Time()> clock) {
  if (absl::Status s = ValidateVapidSubject(subject); !s.ok()) return s;
  return std::unique_ptr<VapidSigner>(
      new VapidSigner(std::move(key), std::move(subject), std::move(clock)));
}

absl::StatusOr<std::string> VapidSigner::Authorization(
    absl::string_view audience) {
  const absl::Time now = clock_();
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(audience);
    if (it != cache_.end() && it->second.expires - now > kRefreshBefore) {
      return it->second.header;
    }
  }
  // Whole seconds, as the claim carries them.
  const absl::Time expires =
      absl::FromUnixSeconds(absl::ToUnixSeconds(now + kValidity));
  absl::StatusOr<std::string> jwt =
      MakeVapidJwt(key_, audience, subject_, expires);
  if (!jwt.ok()) return jwt.status();
  std::string header =
      absl::StrCat("vapid t=", *jwt, ", k=", key_.public_key_base64url());
  absl::MutexLock lock(&mu_);
  if (cache_.size() >= kMaxCachedAudiences && !cache_.contains(audience)) {
    for (auto it = cache_.begin(); it != cache_.end();) {
      if (it->second.expires - now <= kRefreshBefore) {
        cache_.erase(it++);
      } else {
        ++it;
      }
    }
    if (cache_.size() >= kMaxCachedAudiences) cache_.clear();
  }
  cache_[std::string(audience)] = Entry{header, expires};
  return header;
}

size_t VapidSigner::cached() const {
  absl::MutexLock lock(&mu_);
  return cache_.size();
}

}  // namespace notifyd::push
