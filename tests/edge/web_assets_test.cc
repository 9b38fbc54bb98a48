#include "edge/web_assets.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace notifyd::edge {
namespace {

using ::testing::HasSubstr;

TEST(WebAssetsTest, EmbeddedInboxPage) {
  absl::StatusOr<WebFile> index = LoadWebFile("/", "");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_THAT(index->body, HasSubstr("id=\"state\""));
  EXPECT_THAT(index->body, HasSubstr("id=\"list\""));
  absl::StatusOr<WebFile> js = LoadWebFile("/inbox.js", "");
  ASSERT_TRUE(js.ok());
  EXPECT_THAT(js->body, HasSubstr("from './v1/client.js'"));
  EXPECT_TRUE(IsKnownWebPath("/index.html"));
}

// Every module the page imports ("from './name.js'") is embedded and served
// where the browser will ask for it.
TEST(WebAssetsTest, EveryModuleThePageImportsIsServed) {
  absl::StatusOr<WebFile> js = LoadWebFile("/inbox.js", "");
  ASSERT_TRUE(js.ok());
  std::vector<std::string> imports;
  for (size_t at = js->body.find("from './"); at != std::string::npos;
       at = js->body.find("from './", at + 1)) {
    size_t begin = at + std::strlen("from '.");
    size_t end = js->body.find('\'', begin);
    ASSERT_NE(end, std::string::npos);
    imports.push_back(js->body.substr(begin, end - begin));
  }
  EXPECT_THAT(imports,
              ::testing::IsSupersetOf(
                  {"/v1/client.js", "/inbox_items.js", "/inbox_card.js"}));
  for (const std::string& path : imports) {
    absl::StatusOr<WebFile> module = LoadWebFile(path, "");
    ASSERT_TRUE(module.ok()) << path << ": " << module.status();
    EXPECT_EQ(module->content_type, "text/javascript; charset=utf-8") << path;
  }
}

TEST(WebAssetsTest, BrowserClientOnlyUnderV1) {
  absl::StatusOr<WebFile> client = LoadWebFile("/v1/client.js", "");
  ASSERT_TRUE(client.ok());
  EXPECT_EQ(client->content_type, "text/javascript; charset=utf-8");
  EXPECT_THAT(client->body, HasSubstr("export function connect("));
  EXPECT_THAT(client->body, HasSubstr("EventSource"));
  EXPECT_TRUE(IsKnownWebPath("/v1/client.js"));
  // One URL for it: the plain name is not a second one.
  EXPECT_FALSE(IsKnownWebPath("/client.js"));
  EXPECT_EQ(LoadWebFile("/client.js", "").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(IsKnownWebPath("/v1/inbox.js"));
}

// The service worker only under /v1/, and the only file a page may register
// for the whole origin.
TEST(WebAssetsTest, ServiceWorkerOnlyUnderV1) {
  absl::StatusOr<WebFile> worker = LoadWebFile("/v1/sw.js", "");
  ASSERT_TRUE(worker.ok()) << worker.status();
  EXPECT_EQ(worker->content_type, "text/javascript; charset=utf-8");
  EXPECT_TRUE(worker->service_worker);
  EXPECT_THAT(worker->body, HasSubstr("addEventListener('push'"));
  EXPECT_FALSE(IsKnownWebPath("/sw.js"));
  EXPECT_FALSE(LoadWebFile("/v1/client.js", "")->service_worker);
}

TEST(WebAssetsTest, OnlyKnownFiles) {
  for (const char* path : {"/../etc/passwd", "/nope.html", "/web/index.html",
                           "", "//index.html", "/index.html/"}) {
    EXPECT_EQ(LoadWebFile(path, "").status().code(),
              absl::StatusCode::kNotFound)
        << path;
    EXPECT_EQ(LoadWebFile(path, "/").status().code(),
              absl::StatusCode::kNotFound)
        << path;
  }
}

TEST(WebAssetsTest, WebRootOverridesEmbedded) {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / "notifyd_web_assets_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "index.html") << "from disk";
  absl::StatusOr<WebFile> index = LoadWebFile("/", dir.string());
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(index->body, "from disk");
  EXPECT_EQ(LoadWebFile("/inbox.css", dir.string()).status().code(),
            absl::StatusCode::kUnavailable);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace notifyd::edge
