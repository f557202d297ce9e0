// PS3.4 C.2.2.2 matching on UTF-8 values, and the PN normalisation the
// index and the matcher share.
#include "query_matching.h"
#include "gtest/gtest.h"
#include "index_records.h"

namespace pacs::dicom::query {
namespace {

constexpr uint32_t kName = index::Tag(0x0010, 0x0010);
constexpr uint32_t kDate = index::Tag(0x0008, 0x0020);
constexpr uint32_t kTime = index::Tag(0x0008, 0x0030);
constexpr uint32_t kUid = index::Tag(0x0020, 0x000D);
constexpr uint32_t kId = index::Tag(0x0010, 0x0020);

TEST(WildcardMatch, StarAndQuestionMark) {
  EXPECT_TRUE(WildcardMatch("SMI*", "SMITH"));
  EXPECT_TRUE(WildcardMatch("SMI*", "SMI"));
  EXPECT_FALSE(WildcardMatch("SMI*", "SM"));
  EXPECT_TRUE(WildcardMatch("*TH", "SMITH"));
  EXPECT_TRUE(WildcardMatch("S?ITH", "SMITH"));
  EXPECT_FALSE(WildcardMatch("S?ITH", "SMIITH"));
  EXPECT_TRUE(WildcardMatch("*M*T*", "SMITH"));
  EXPECT_TRUE(WildcardMatch("J?R?ME", "J\xc3\x89R\xc3\x94ME"));  // '?' is one UTF-8 character
  EXPECT_TRUE(WildcardMatch("**", ""));
}

TEST(KeyMatcher, UniversalMatchesEverythingIncludingEmpty) {
  EXPECT_TRUE(KeyMatcher(kId, "LO", "").universal());
  EXPECT_TRUE(KeyMatcher(kId, "LO", "*").universal());
  EXPECT_TRUE(KeyMatcher(kName, "PN", "").Matches(""));
}

TEST(KeyMatcher, SingleValueIsExactAndCaseSensitiveOutsidePn) {
  KeyMatcher id(kId, "LO", "ABC");
  EXPECT_TRUE(id.Matches("ABC"));
  EXPECT_FALSE(id.Matches("abc"));
  EXPECT_FALSE(id.Matches("ABCD"));
  EXPECT_FALSE(id.Matches(""));
}

TEST(KeyMatcher, PersonNamesIgnoreCaseAndMatchEachComponentGroup) {
  KeyMatcher name(kName, "PN", "buc^j\xc3\xa9r\xc3\xb4me");
  EXPECT_TRUE(name.Matches("Buc^J\xc3\xa9r\xc3\xb4me"));
  EXPECT_TRUE(name.Matches("BUC^J\xc3\x89R\xc3\x94ME^^^"));  // trailing empty components
  KeyMatcher ideographic(kName, "PN", "\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1");
  EXPECT_TRUE(ideographic.Matches("Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1="));
  KeyMatcher whole(kName, "PN", "wang^xiaodong=\xe7\x8e\x8b^*");
  EXPECT_TRUE(whole.Matches("Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1="));
  KeyMatcher wildcard(kName, "PN", "smi*");
  EXPECT_EQ(wildcard.kind(), MatchKind::kWildcard);
  EXPECT_EQ(wildcard.LiteralPrefix(), "SMI");
  EXPECT_TRUE(wildcard.Matches("Smith^John"));
  EXPECT_FALSE(wildcard.Matches("Jones^Smith"));
}

TEST(KeyMatcher, DateRangesClosedOpenAndSingle) {
  KeyMatcher closed(kDate, "DA", "20240101-20240131");
  EXPECT_TRUE(closed.Matches("20240101"));
  EXPECT_TRUE(closed.Matches("20240131"));
  EXPECT_FALSE(closed.Matches("20240201"));
  EXPECT_FALSE(closed.Matches(""));
  EXPECT_TRUE(KeyMatcher(kDate, "DA", "-20240131").Matches("19991231"));
  EXPECT_FALSE(KeyMatcher(kDate, "DA", "-20240131").Matches("20240201"));
  EXPECT_TRUE(KeyMatcher(kDate, "DA", "20240101-").Matches("20991231"));
  EXPECT_TRUE(KeyMatcher(kDate, "DA", "20240115").Matches("20240115"));
  EXPECT_FALSE(KeyMatcher(kDate, "DA", "20240115").Matches("20240116"));
  EXPECT_TRUE(KeyMatcher(kDate, "DA", "2024.01.15").Matches("20240115"));  // legacy form
}

TEST(KeyMatcher, TimeUpperBoundCoversItsWholeMinute) {
  KeyMatcher range(kTime, "TM", "0800-1200");
  EXPECT_TRUE(range.Matches("080000"));
  EXPECT_TRUE(range.Matches("120059.999"));
  EXPECT_FALSE(range.Matches("120100"));
  EXPECT_FALSE(range.Matches("075959"));
  EXPECT_TRUE(KeyMatcher(kTime, "TM", "10:15-").Matches("101530"));
}

TEST(KeyMatcher, UidListsAndValueLists) {
  KeyMatcher uids(kUid, "UI", "1.2.3\\1.2.4");
  EXPECT_EQ(uids.kind(), MatchKind::kList);
  EXPECT_TRUE(uids.Matches("1.2.4"));
  EXPECT_FALSE(uids.Matches("1.2.34"));
  KeyMatcher modalities(index::Tag(0x0008, 0x0061), "CS", "CT\\MR");
  EXPECT_TRUE(modalities.Matches("MR"));
  EXPECT_TRUE(modalities.Matches("PT\\MR"));  // a multi-valued attribute matches when one value does
  EXPECT_FALSE(modalities.Matches("PT\\US"));
}

TEST(FoldCase, LatinGreekCyrillic) {
  EXPECT_EQ(index::FoldCase("abc\xc3\xa9\xc3\xbf"), "ABC\xc3\x89\xc5\xb8");  // é ÿ
  EXPECT_EQ(index::FoldCase("\xce\xb1\xcf\x82"), "\xce\x91\xce\xa3");        // α ς
  EXPECT_EQ(index::FoldCase("\xd0\xb0\xd1\x91"), "\xd0\x90\xd0\x81");        // а ё
  EXPECT_EQ(index::FoldCase("\xe7\x8e\x8b"), "\xe7\x8e\x8b");                // 王 unchanged
}

TEST(NameTerms, OneTermPerNonEmptyGroupAndValue) {
  EXPECT_EQ(index::NameTerms("Wang^XiaoDong=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1="),
            (std::vector<std::string>{"WANG^XIAODONG", "\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1"}));
  EXPECT_EQ(index::NameTerms("Smith^John^^^\\Doe^Jane"), (std::vector<std::string>{"SMITH^JOHN", "DOE^JANE"}));
  EXPECT_TRUE(index::NameTerms("").empty());
}

TEST(Record, RoundTripsAndRejectsGarbage) {
  index::Record r;
  r.attributes.Set(kName, "A^B");
  r.attributes.Set(kDate, "20240101");
  r.patient_key = index::PatientKey("ID", "ISSUER");
  r.studies = 1, r.series = 2, r.instances = 300;
  r.modalities = {{"CT", 2}};
  r.sop_classes = {{"1.2.840.10008.5.1.4.1.1.2", 300}};
  auto back = index::Record::Decode(r.Encode());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back->attributes.Find(kName), "A^B");
  EXPECT_EQ(back->patient_key, r.patient_key);
  EXPECT_EQ(back->instances, 300u);
  EXPECT_EQ(back->modalities, r.modalities);
  EXPECT_FALSE(index::Record::Decode("garbage").ok());
  EXPECT_FALSE(index::Record::Decode(r.Encode().substr(0, 5)).ok());
}

}  // namespace
}  // namespace pacs::dicom::query
