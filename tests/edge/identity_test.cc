#include "edge/identity.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

TEST(IdentityTest, DevUserOnlyWhenInsecure) {
  AuthInputs in;
  in.dev_user = "alice";
  in.has_dev_user = true;
  IdentityOptions secure;
  EXPECT_EQ(Authenticate(in, secure).status().code(),
            absl::StatusCode::kUnauthenticated);
  IdentityOptions dev;
  dev.insecure_dev_identity = true;
  absl::StatusOr<Identity> id = Authenticate(in, dev);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->user, "alice");
  EXPECT_TRUE(id->all_channels);
}

TEST(IdentityTest, MissingOrInvalidUser) {
  IdentityOptions dev;
  dev.insecure_dev_identity = true;
  EXPECT_EQ(Authenticate(AuthInputs{}, dev).status().code(),
            absl::StatusCode::kUnauthenticated);
  AuthInputs in;
  in.dev_user = "bad user";
  in.has_dev_user = true;
  EXPECT_EQ(Authenticate(in, dev).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IdentityTest, TokenFromHeaderQueryOrCookieGoesToVerifier) {
  IdentityOptions opts;
  std::string seen;
  opts.verifier = [&seen](absl::string_view token) -> absl::StatusOr<Identity> {
    seen = std::string(token);
    if (token == "forged") return absl::UnauthenticatedError("bad signature");
    return Identity{"bob", {"team:*", "news"}, false};
  };
  AuthInputs header;
  header.authorization = "Bearer tok1";
  ASSERT_TRUE(Authenticate(header, opts).ok());
  EXPECT_EQ(seen, "tok1");
  AuthInputs query;
  query.access_token = "tok2";
  EXPECT_EQ(Authenticate(query, opts)->user, "bob");
  EXPECT_EQ(seen, "tok2");
  AuthInputs cookie;
  cookie.cookie = "a=b; access_token=tok3; c=d";
  ASSERT_TRUE(Authenticate(cookie, opts).ok());
  EXPECT_EQ(seen, "tok3");
  // --token_cookie renames the cookie; a name that merely starts the same
  // does not match.
  IdentityOptions renamed = opts;
  renamed.cookie_name = "nd";
  AuthInputs named;
  named.cookie = "ndx=wrong; nd=tok4";
  ASSERT_TRUE(Authenticate(named, renamed).ok());
  EXPECT_EQ(seen, "tok4");
  AuthInputs old_name;
  old_name.cookie = "access_token=tok5";
  EXPECT_FALSE(Authenticate(old_name, renamed).ok());
  AuthInputs forged;
  forged.access_token = "forged";
  EXPECT_EQ(Authenticate(forged, opts).status().code(),
            absl::StatusCode::kUnauthenticated);
  AuthInputs basic;
  basic.authorization = "Basic abc";
  EXPECT_FALSE(Authenticate(basic, opts).ok());
}

TEST(IdentityTest, TokenWithoutVerifierIsRejected) {
  AuthInputs in;
  in.access_token = "tok";
  in.dev_user = "alice";
  in.has_dev_user = true;
  IdentityOptions dev;
  dev.insecure_dev_identity = true;
  EXPECT_EQ(Authenticate(in, dev).status().code(),
            absl::StatusCode::kUnauthenticated);
}

// ?access_token=<token>%00junk: the verifier gets every byte, so it can
// refuse what is not a token (TokenAuthority::Verify does) instead of
// seeing a truncated, valid-looking prefix.
TEST(IdentityTest, TheVerifierSeesTheWholeTokenTextNulIncluded) {
  IdentityOptions opts;
  std::string seen;
  opts.verifier = [&seen](absl::string_view token) -> absl::StatusOr<Identity> {
    seen = std::string(token);
    return absl::UnauthenticatedError("malformed");
  };
  const std::string with_nul("tok\0junk", 8);
  AuthInputs query;
  query.access_token = with_nul;
  EXPECT_EQ(Authenticate(query, opts).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(seen, with_nul);
  AuthInputs cookie;
  const std::string cookie_header = "access_token=" + with_nul;
  cookie.cookie = cookie_header;
  EXPECT_FALSE(Authenticate(cookie, opts).ok());
  EXPECT_EQ(seen, with_nul);
}

TEST(IdentityTest, AuthorizeExactAndPrefixGrants) {
  Identity id{"bob", {"team:*", "news"}, false};
  EXPECT_TRUE(Authorize(id, {"news", "team:red"}).ok());
  absl::Status s = Authorize(id, {"news", "sports"});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("sports"));
  EXPECT_TRUE(Authorize(Identity{"dev", {}, true}, {"anything"}).ok());
}

TEST(IdentityTest, OnlyTheOwnerReadsAUserChannel) {
  Identity bob{"bob", {"*"}, false};
  EXPECT_TRUE(Authorize(bob, {"user:bob"}).ok());
  absl::Status s = Authorize(bob, {"user:alice"});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("user:alice"));
  // Not even a wildcard grant or the development identity opens it.
  EXPECT_FALSE(Authorize(Identity{"dev", {}, true}, {"user:alice"}).ok());
  EXPECT_FALSE(Authorize(Identity{"bob", {"user:*"}, false}, {"user:al"}).ok());
}

}  // namespace
}  // namespace notifyd::edge
