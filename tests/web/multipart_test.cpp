// The streaming multipart parser (web/src/multipart.h): media types and
// boundaries, parts split at every possible chunk boundary, spilling, and
// each refusal with its message.
#include "multipart.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

namespace pacs::web {
namespace {

struct CollectedPart {
  PartHeaders headers;
  std::string bytes;
  bool ended = false;
};

class CollectingSink : public PartSink {
 public:
  Status BeginPart(size_t index, const PartHeaders& headers) override {
    EXPECT_EQ(index, parts.size());
    if (!parts.empty()) {
      EXPECT_TRUE(parts.back().ended);
    }
    parts.push_back({headers, "", false});
    return Status::Ok();
  }
  Status PartData(std::string_view bytes) override {
    EXPECT_FALSE(parts.empty());
    EXPECT_FALSE(parts.back().ended);
    parts.back().bytes.append(bytes);
    return Status::Ok();
  }
  Status EndPart() override {
    parts.back().ended = true;
    return Status::Ok();
  }
  std::vector<CollectedPart> parts;
};

std::string Body(const std::string& boundary, const std::vector<std::pair<std::string, std::string>>& parts,
                 const std::string& preamble = "") {
  std::string body = preamble;
  for (const auto& [headers, bytes] : parts) body += "--" + boundary + "\r\n" + headers + "\r\n" + bytes + "\r\n";
  body += "--" + boundary + "--\r\n";
  return body;
}

// Feeds `body` in chunks of `chunk` bytes.
Status Parse(const std::string& boundary, std::string_view body, size_t chunk, CollectingSink& sink,
             MultipartLimits limits = {}) {
  MultipartParser parser(boundary, sink, limits);
  for (size_t i = 0; i < body.size(); i += chunk)
    if (Status s = parser.Feed(body.substr(i, chunk)); !s.ok()) return s;
  return parser.Finish();
}

std::string Binary(size_t size, uint32_t seed) {
  std::mt19937 random(seed);
  std::string bytes(size, '\0');
  for (auto& c : bytes) c = static_cast<char>(random());
  // Near-delimiters inside the part: a CRLF, dashes and a prefix of the boundary.
  if (size > 100) bytes.replace(50, 12, "\r\n--abc12\r\n-");
  return bytes;
}

TEST(MediaType, ParsesQuotedAndUnquotedParameters) {
  auto type = ParseMediaType(R"(Multipart/Related; type="application/dicom"; boundary=abc123)");
  ASSERT_TRUE(type.ok()) << type.status().ToString();
  EXPECT_EQ(type->type, "multipart/related");
  EXPECT_EQ(type->Parameter("type"), "application/dicom");
  EXPECT_EQ(type->Parameter("boundary"), "abc123");
  auto quoted = ParseMediaType(R"(multipart/related;boundary="a b:c\"d" ; TYPE=application/dicom)");
  ASSERT_TRUE(quoted.ok()) << quoted.status().ToString();
  EXPECT_EQ(quoted->Parameter("boundary"), "a b:c\"d");
  EXPECT_EQ(quoted->Parameter("type"), "application/dicom");
}

TEST(MediaType, RefusesMalformed) {
  for (const char* text :
       {"", "multipart", "multipart/", "/related", "multipart/related; boundary", "multipart/related; boundary=\"abc",
        "multipart/related boundary=abc", "multipart/related; =x"}) {
    auto type = ParseMediaType(text);
    EXPECT_FALSE(type.ok()) << text;
  }
}

TEST(Boundary, MissingWrongOrTooLong) {
  auto no_boundary = BoundaryOf(*ParseMediaType("multipart/related; type=application/dicom"));
  ASSERT_FALSE(no_boundary.ok());
  EXPECT_NE(no_boundary.status().message().find("no boundary"), std::string::npos);
  auto not_multipart = BoundaryOf(*ParseMediaType("application/dicom; boundary=x"));
  ASSERT_FALSE(not_multipart.ok());
  EXPECT_NE(not_multipart.status().message().find("not multipart"), std::string::npos);
  EXPECT_FALSE(BoundaryOf(*ParseMediaType("multipart/related; boundary=\"" + std::string(71, 'a') + "\"")).ok());
  EXPECT_FALSE(BoundaryOf(*ParseMediaType("multipart/related; boundary=\"a\\\"b\"")).ok());
  EXPECT_TRUE(BoundaryOf(*ParseMediaType("multipart/related; boundary=\"" + std::string(70, 'a') + "\"")).ok());
}

TEST(MultipartParser, PartsSurviveEveryChunkSize) {
  const std::string boundary = "abc123";
  const std::string one = Binary(3000, 1), two = Binary(1, 2), three;
  const std::string body = Body(boundary,
                                {{"Content-Type: application/dicom\r\nContent-Location: a/b\r\n", one},
                                 {"content-type:application/dicom  \r\n", two},
                                 {"", three}},
                                "This is a preamble\r\n");
  for (size_t chunk : {size_t{1}, size_t{2}, size_t{3}, size_t{7}, size_t{11}, size_t{64}, size_t{4096}, body.size()}) {
    CollectingSink sink;
    Status s = Parse(boundary, body, chunk, sink);
    ASSERT_TRUE(s.ok()) << "chunk " << chunk << ": " << s.ToString();
    ASSERT_EQ(sink.parts.size(), 3u) << chunk;
    EXPECT_EQ(sink.parts[0].bytes, one) << chunk;
    EXPECT_EQ(sink.parts[0].headers.Get("content-type"), "application/dicom");
    EXPECT_EQ(sink.parts[0].headers.Get("content-location"), "a/b");
    EXPECT_EQ(sink.parts[1].bytes, two);
    EXPECT_EQ(sink.parts[1].headers.Get("content-type"), "application/dicom");
    EXPECT_EQ(sink.parts[2].bytes, "");
    EXPECT_TRUE(sink.parts[2].headers.fields.empty());
    for (const auto& part : sink.parts) EXPECT_TRUE(part.ended);
  }
}

TEST(MultipartParser, TransportPaddingAndEpilogue) {
  const std::string body = "--b1  \t\r\nContent-Type: x/y\r\n\r\nhello\r\n--b1--  trailing epilogue\r\n--b1\r\nignored";
  CollectingSink sink;
  ASSERT_TRUE(Parse("b1", body, 5, sink).ok());
  ASSERT_EQ(sink.parts.size(), 1u);
  EXPECT_EQ(sink.parts[0].bytes, "hello");
}

TEST(MultipartParser, WrongBoundaryIsRefusedWithAClearMessage) {
  const std::string body = Body("right", {{"Content-Type: application/dicom\r\n", "data"}});
  CollectingSink sink;
  Status s = Parse("wrong", body, 16, sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("does not use the boundary"), std::string::npos) << s.message();
  EXPECT_TRUE(sink.parts.empty());
}

TEST(MultipartParser, WrongBoundaryStopsEarlyOnALongBody) {
  CollectingSink sink;
  MultipartParser parser("nothere", sink, {.max_preamble_bytes = 1000});
  Status s = Status::Ok();
  for (int i = 0; i < 100 && s.ok(); ++i) s = parser.Feed(std::string(100, 'x'));
  ASSERT_FALSE(s.ok());
  EXPECT_LT(parser.bytes_fed(), 1200u);
  EXPECT_FALSE(parser.Feed("more").ok());  // stays failed
}

TEST(MultipartParser, TruncatedPartIsRefused) {
  const std::string body = Body("b", {{"Content-Type: application/dicom\r\n", Binary(500, 3)}});
  for (size_t cut : {size_t{3}, size_t{10}, size_t{40}, body.size() - 10, body.size() - 5}) {
    CollectingSink sink;
    Status s = Parse("b", std::string_view(body).substr(0, cut), 7, sink);
    ASSERT_FALSE(s.ok()) << cut;
    EXPECT_NE(s.message().find("truncated"), std::string::npos) << cut << ": " << s.message();
  }
}

TEST(MultipartParser, EmptyBodyAndGarbage) {
  CollectingSink empty;
  Status s = Parse("b", "", 1, empty);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("empty"), std::string::npos);
  CollectingSink garbage;
  EXPECT_FALSE(Parse("b", "--bX\r\n\r\ndata\r\n--b--", 4, garbage).ok());
  CollectingSink bad_header;
  Status header = Parse("b", "--b\r\nno colon here\r\n\r\ndata\r\n--b--", 4, bad_header);
  ASSERT_FALSE(header.ok());
  EXPECT_NE(header.message().find("part 1: header line"), std::string::npos) << header.message();
}

TEST(MultipartParser, HeaderBlockLimit) {
  const std::string body = "--b\r\nX-Long: " + std::string(20000, 'a') + "\r\n\r\nx\r\n--b--";
  CollectingSink sink;
  Status s = Parse("b", body, 1000, sink, {.max_header_bytes = 16 << 10});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("headers of part 1"), std::string::npos) << s.message();
}

TEST(MultipartParser, SinkErrorStopsTheParser) {
  class Refusing : public CollectingSink {
   public:
    Status BeginPart(size_t index, const PartHeaders& headers) override {
      return Status::InvalidArgument("part refused by the sink");
    }
  } sink;
  Status s = Parse("b", Body("b", {{"", "x"}}), 3, sink);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "part refused by the sink");
}

TEST(PartSpooler, SmallPartsStayInMemoryLargeOnesSpillAndAreRemoved) {
  const auto dir = std::filesystem::temp_directory_path() / ("multipart_test_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  const std::string small = Binary(100, 4), large = Binary(200000, 5);
  const std::string body = Body("zz", {{"Content-Type: a/b\r\n", small}, {"Content-Type: c/d\r\n", large}});
  std::filesystem::path spilled;
  {
    PartSpooler spooler(dir, 1000);
    MultipartParser parser("zz", spooler);
    for (size_t i = 0; i < body.size(); i += 8192) ASSERT_TRUE(parser.Feed(body.substr(i, 8192)).ok());
    ASSERT_TRUE(parser.Finish().ok());
    ASSERT_EQ(spooler.parts().size(), 2u);
    EXPECT_FALSE(spooler.parts()[0].spilled());
    EXPECT_EQ(spooler.parts()[0].memory, small);
    ASSERT_TRUE(spooler.parts()[1].spilled());
    EXPECT_EQ(spooler.parts()[1].size, large.size());
    EXPECT_EQ(spooler.parts()[1].headers.Get("content-type"), "c/d");
    spilled = spooler.parts()[1].file;
    std::ifstream in(spilled, std::ios::binary);
    const std::string read((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(read, large);
  }
  EXPECT_FALSE(std::filesystem::exists(spilled));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace pacs::web
