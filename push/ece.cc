#include "push/ece.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <cstdint>
#include <memory>

#include "absl/strings/str_cat.h"

namespace notifyd::push {
namespace {

constexpr size_t kTagBytes = 16;
constexpr size_t kKeyBytes = 16;          // AES-128
constexpr size_t kNonceBytes = 12;        // AES-GCM IV
constexpr char kPaddingDelimiter = 0x02;  // the last (and only) record

using CipherCtxPtr = OpenSslPtr<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>;

unsigned char* Bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}
const unsigned char* Bytes(absl::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// HKDF-SHA256 (RFC 5869), extract then expand, `length` bytes.
absl::StatusOr<std::string> Hkdf(absl::string_view salt, absl::string_view ikm,
                                 absl::string_view info, size_t length) {
  OpenSslPtr<EVP_KDF, EVP_KDF_free> kdf(
      EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  OpenSslPtr<EVP_KDF_CTX, EVP_KDF_CTX_free> ctx(kdf ? EVP_KDF_CTX_new(kdf.get())
                                                    : nullptr);
  if (!ctx) return OpenSslError("HKDF");
  char digest[] = "SHA256";
  auto octets = [](const char* name, absl::string_view s) {
    return OSSL_PARAM_construct_octet_string(name, const_cast<char*>(s.data()),
                                             s.size());
  };
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      octets(OSSL_KDF_PARAM_KEY, ikm), octets(OSSL_KDF_PARAM_SALT, salt),
      octets(OSSL_KDF_PARAM_INFO, info), OSSL_PARAM_construct_end()};
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx.get(), Bytes(out), out.size(), params) != 1) {
    return OpenSslError("HKDF");
  }
  return out;
}

struct ContentKeys {
  std::string cek;    // kKeyBytes
  std::string nonce;  // kNonceBytes
};

// RFC 8291 section 3.4 (the IKM from the ECDH secret and auth secret),
// then RFC 8188 section 2.2 and 2.3 (the content key and nonce).
absl::StatusOr<ContentKeys> DeriveKeys(absl::string_view ecdh_secret,
                                       absl::string_view auth_secret,
                                       absl::string_view ua_public,
                                       absl::string_view as_public,
                                       absl::string_view salt) {
  const std::string key_info(absl::StrCat(
      absl::string_view("WebPush: info\0", 14), ua_public, as_public));
  absl::StatusOr<std::string> ikm =
      Hkdf(auth_secret, ecdh_secret, key_info, 32);
  if (!ikm.ok()) return ikm.status();
  absl::StatusOr<std::string> cek =
      Hkdf(salt, *ikm, absl::string_view("Content-Encoding: aes128gcm\0", 28),
           kKeyBytes);
  if (!cek.ok()) return cek.status();
  absl::StatusOr<std::string> nonce =
      Hkdf(salt, *ikm, absl::string_view("Content-Encoding: nonce\0", 24),
           kNonceBytes);
  if (!nonce.ok()) return nonce.status();
  return ContentKeys{*std::move(cek), *std::move(nonce)};
}

absl::Status CheckAuthSecret(absl::string_view auth_secret) {
  if (auth_secret.size() != kAuthSecretBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the auth secret is ", kAuthSecretBytes, " bytes; got ",
                     auth_secret.size()));
  }
  return absl::OkStatus();
}

// AES-128-GCM of `plaintext`; returns ciphertext || tag.
absl::StatusOr<std::string> Seal(const ContentKeys& keys,
                                 absl::string_view plaintext) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + kTagBytes, '\0');
  int length = 0, final_length = 0;
  if (!ctx ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, Bytes(keys.cek),
                         Bytes(keys.nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), Bytes(out), &length, Bytes(plaintext),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), Bytes(out) + length, &final_length) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes,
                          Bytes(out) + plaintext.size()) != 1) {
    return OpenSslError("AES-128-GCM encryption");
  }
  return out;
}

// The inverse of Seal; INVALID_ARGUMENT when the tag does not match.
absl::StatusOr<std::string> Open(const ContentKeys& keys,
                                 absl::string_view sealed) {
  const size_t size = sealed.size() - kTagBytes;
  std::string tag(sealed.substr(size));
  std::string out(size, '\0');
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  int length = 0, final_length = 0;
  if (!ctx ||
      EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, Bytes(keys.cek),
                         Bytes(keys.nonce)) != 1 ||
      EVP_DecryptUpdate(ctx.get(), Bytes(out), &length, Bytes(sealed),
                        static_cast<int>(size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagBytes,
                          Bytes(tag)) != 1) {
    return OpenSslError("AES-128-GCM decryption");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), Bytes(out) + length, &final_length) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the push message does not authenticate (wrong key or auth secret, "
        "or altered)");
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> Encrypt(absl::string_view plaintext,
                                    absl::string_view ua_public_key,
                                    absl::string_view auth_secret) {
  absl::StatusOr<PkeyPtr> ephemeral = GenerateP256Key();
  if (!ephemeral.ok()) return ephemeral.status();
  EceSenderKeys sender;
  sender.salt.resize(kSaltBytes);
  if (RAND_bytes(Bytes(sender.salt), kSaltBytes) != 1) {
    return OpenSslError("drawing a salt");
  }
  // The scalar of the fresh key, so that both paths share EncryptWith.
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(ephemeral->get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) !=
      1) {
    return OpenSslError("reading an ephemeral key");
  }
  sender.private_key.resize(kP256ScalarBytes);
  const int written =
      BN_bn2binpad(d, Bytes(sender.private_key), kP256ScalarBytes);
  BN_clear_free(d);
  if (written != static_cast<int>(kP256ScalarBytes)) {
    return OpenSslError("reading an ephemeral key");
  }
  return EncryptWith(plaintext, ua_public_key, auth_secret, sender);
}

absl::StatusOr<std::string> EncryptWith(absl::string_view plaintext,
                                        absl::string_view ua_public_key,
                                        absl::string_view auth_secret,
                                        const EceSenderKeys& sender) {
  if (plaintext.size() > kMaxPlaintextBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the push payload is ", plaintext.size(),
                     " bytes; at most ", kMaxPlaintextBytes, " fit a ",
                     kMaxBodyBytes, "-byte encrypted push message"));
  }
  if (absl::Status s = CheckAuthSecret(auth_secret); !s.ok()) return s;
  if (sender.salt.size() != kSaltBytes) {
    return absl::InvalidArgumentError("the salt is 16 bytes");
  }
  absl::StatusOr<PkeyPtr> ua = P256PublicKey(ua_public_key);
  if (!ua.ok()) return ua.status();
  absl::StatusOr<PkeyPtr> as = P256PrivateKey(sender.private_key);
  if (!as.ok()) return as.status();
  absl::StatusOr<std::string> as_public = P256Point(as->get());
  if (!as_public.ok()) return as_public.status();
  absl::StatusOr<std::string> secret = P256Ecdh(as->get(), ua->get());
  if (!secret.ok()) return secret.status();
  absl::StatusOr<ContentKeys> keys =
      DeriveKeys(*secret, auth_secret, ua_public_key, *as_public, sender.salt);
  if (!keys.ok()) return keys.status();

  absl::StatusOr<std::string> sealed =
      Seal(*keys, absl::StrCat(plaintext, std::string(1, kPaddingDelimiter)));
  if (!sealed.ok()) return sealed.status();
  std::string body = sender.salt;
  body.push_back(static_cast<char>((kRecordSize >> 24) & 0xff));
  body.push_back(static_cast<char>((kRecordSize >> 16) & 0xff));
  body.push_back(static_cast<char>((kRecordSize >> 8) & 0xff));
  body.push_back(static_cast<char>(kRecordSize & 0xff));
  body.push_back(static_cast<char>(kP256PointBytes));
  absl::StrAppend(&body, *as_public, *sealed);
  return body;
}

absl::StatusOr<std::string> Decrypt(absl::string_view body,
                                    absl::string_view ua_private_key,
                                    absl::string_view auth_secret) {
  if (absl::Status s = CheckAuthSecret(auth_secret); !s.ok()) return s;
  auto malformed = [](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed aes128gcm body: ", why));
  };
  if (body.size() < kSaltBytes + 5) return malformed("shorter than a header");
  const absl::string_view salt = body.substr(0, kSaltBytes);
  uint32_t rs = 0;
  for (size_t i = 0; i < 4; ++i) {
    rs = (rs << 8) | static_cast<unsigned char>(body[kSaltBytes + i]);
  }
  const size_t idlen = static_cast<unsigned char>(body[kSaltBytes + 4]);
  const size_t header = kSaltBytes + 5 + idlen;
  if (rs < 18) return malformed("record size below 18");
  if (idlen != kP256PointBytes) {
    return malformed("the key id is not a P-256 public key");
  }
  if (body.size() < header + kTagBytes + 1) return malformed("no record");
  const absl::string_view record = body.substr(header);
  if (record.size() > rs) return malformed("more than one record");

  absl::StatusOr<PkeyPtr> ua = P256PrivateKey(ua_private_key);
  if (!ua.ok()) return ua.status();
  absl::StatusOr<std::string> ua_public = P256Point(ua->get());
  if (!ua_public.ok()) return ua_public.status();
  const absl::string_view as_public = body.substr(kSaltBytes + 5, idlen);
  absl::StatusOr<PkeyPtr> as = P256PublicKey(as_public);
  if (!as.ok()) return as.status();
  absl::StatusOr<std::string> secret = P256Ecdh(ua->get(), as->get());
  if (!secret.ok()) return secret.status();
  absl::StatusOr<ContentKeys> keys =
      DeriveKeys(*secret, auth_secret, *ua_public, as_public, salt);
  if (!keys.ok()) return keys.status();
  absl::StatusOr<std::string> padded = Open(*keys, record);
  if (!padded.ok()) return padded.status();
  // Padding is zeros after the delimiter, which must say "last record".
  size_t end = padded->find_last_not_of('\0');
  if (end == std::string::npos || (*padded)[end] != kPaddingDelimiter) {
    return malformed("the record does not end with the last-record delimiter");
  }
  padded->resize(end);
  return *std::move(padded);
}

absl::StatusOr<std::string> P256PublicFromPrivate(
    absl::string_view private_key) {
  absl::StatusOr<PkeyPtr> key = P256PrivateKey(private_key);
  if (!key.ok()) return key.status();
  return P256Point(key->get());
}

}  // namespace notifyd::push
