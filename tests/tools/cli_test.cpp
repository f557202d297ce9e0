// The CLI's own pieces: flag parsing, durations, and the JSON the admin
// endpoint and `--json` speak.
#include <gtest/gtest.h>

#include "cli.h"
#include "json.h"

namespace pacs::tools {
namespace {

TEST(ParseArgsTest, ValuesBooleansRepeatsAndErrors) {
  const char* argv[] = {"--data", "d", "--peer=A=X@h:1", "--peer", "B=Y@h:2", "--json", "file1", "file2"};
  auto args = ParseArgs(8, const_cast<char**>(argv), {"data", "peer"}, {"json"});
  ASSERT_TRUE(args.ok()) << args.status().ToString();
  EXPECT_EQ(args->Get("data"), "d");
  EXPECT_EQ(args->flags.at("peer"), (std::vector<std::string>{"A=X@h:1", "B=Y@h:2"}));
  EXPECT_TRUE(args->Has("json"));
  EXPECT_EQ(args->positional, (std::vector<std::string>{"file1", "file2"}));

  const char* unknown[] = {"--bogus"};
  EXPECT_EQ(ParseArgs(1, const_cast<char**>(unknown), {"data"}, {}).status().code(), StatusCode::kInvalidArgument);
  const char* missing[] = {"--data"};
  EXPECT_FALSE(ParseArgs(1, const_cast<char**>(missing), {"data"}, {}).ok());
  const char* valued_bool[] = {"--json=yes"};
  EXPECT_FALSE(ParseArgs(1, const_cast<char**>(valued_bool), {}, {"json"}).ok());
}

TEST(ParseDurationTest, UnitsAndRejects) {
  EXPECT_EQ(*ParseDurationMs("0", "g"), 0);
  EXPECT_EQ(*ParseDurationMs("90s", "g"), 90000);
  EXPECT_EQ(*ParseDurationMs("1h", "g"), 3600000);
  EXPECT_EQ(*ParseDurationMs("250ms", "g"), 250);
  EXPECT_FALSE(ParseDurationMs("soon", "g").ok());
  EXPECT_FALSE(ParseDurationMs("-1h", "g").ok());
  EXPECT_FALSE(ParseDurationMs("5 parsecs", "g").ok());
}

TEST(ParsePortTest, Range) {
  EXPECT_EQ(*ParsePort("11112", "port"), 11112);
  EXPECT_FALSE(ParsePort("70000", "port").ok());
  EXPECT_FALSE(ParsePort("12a", "port").ok());
}

TEST(JsonTest, RoundTripsNestedValuesAndEscapes) {
  JsonValue v = JsonObject{{"n", int64_t{-42}},
                           {"s", "line\n\"quoted\"\t\x01"},
                           {"b", true},
                           {"a", JsonArray{JsonValue(1), JsonValue("x"), JsonValue()}},
                           {"o", JsonObject{{"k", "v"}}}};
  for (bool pretty : {false, true}) {
    auto parsed = ParseJson(ToJson(v, pretty));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(ToJson(*parsed), ToJson(v));
  }
  EXPECT_EQ(ParseJson(R"({"u":"caf\u00e9"})")->GetString("u"), "caf\xc3\xa9");
  for (const char* bad : {"{", R"({"a":})", "[1,]", R"({"a":1} x)", "\"open"}) EXPECT_FALSE(ParseJson(bad).ok()) << bad;
}

}  // namespace
}  // namespace pacs::tools
