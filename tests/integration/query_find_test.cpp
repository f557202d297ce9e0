// C-FIND against the real `pacscore serve` with DCMTK's findscu (and GDCM's
// gdcmscu): every level, every matching type, two character sets. Expected
// results come from the pushed corpus files themselves.
#include <fnmatch.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "corpus.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcfilefo.h"
#include "gtest/gtest.h"
#include "qr_test_support.h"
#include "test_support.h"

namespace pacs::testing {
namespace {
namespace fs = std::filesystem;

const char* const kCorpusFolders[] = {
    "dcm_qa_ct/philips_ingenuity_head_phantom/",
    "dcm_qa_ct/ge_hispeed_dual_head/",
    "dcm_qa_decubitus/HFS_3_t1_fl2d_sag/",
    "suyashkumar_dicom/",
    "nema_wg04/CT1/",
};
const char* const kCharsetFiles[] = {"chrFren.dcm", "chrGerm.dcm", "chrX1.dcm"};
const fs::path kCharsetDir = "/usr/lib/python3/dist-packages/pydicom/data/charset_files";

class QueryFindTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    work_ = new fs::path(MakeTempDir("query_find"));
    files_ = new std::vector<FileAttributes>;
    std::vector<SampleFile> push;
    for (const auto& f : LoadCorpus().files) {
      const std::string rel = fs::relative(f.path, CorpusDir()).string();
      for (const char* folder : kCorpusFolders)
        if (rel.rfind(folder, 0) == 0) push.push_back(f);
    }
    // pydicom's character set samples, plus chrFren re-encoded in UTF-8 with
    // new UIDs and PatientID: the same name stored in two character sets.
    for (const char* name : kCharsetFiles) {
      SampleFile s;
      s.path = kCharsetDir / name;
      s.transfer_syntax = "1.2.840.10008.1.2.1";
      push.push_back(s);
    }
    {
      DcmFileFormat file;
      EXPECT_TRUE(file.loadFile((kCharsetDir / "chrFren.dcm").c_str()).good());
      DcmDataset& ds = *file.getDataset();
      EXPECT_TRUE(ds.convertToUTF8().good());
      for (const DcmTagKey& tag : {DCM_StudyInstanceUID, DCM_SeriesInstanceUID, DCM_SOPInstanceUID}) {
        OFString uid;
        ds.findAndGetOFString(tag, uid);
        ds.putAndInsertString(tag, (std::string(uid.c_str()) + ".8").c_str());
      }
      ds.putAndInsertString(DCM_PatientID, "SCSFREN-UTF8");
      const fs::path utf8 = *work_ / "chrFren_utf8.dcm";
      EXPECT_TRUE(file.saveFile(utf8.c_str(), EXS_LittleEndianExplicit).good());
      SampleFile s;
      s.path = utf8;
      s.transfer_syntax = "1.2.840.10008.1.2.1";
      push.push_back(s);
    }
    for (const auto& s : push) files_->push_back(ReadAttributes(s.path));

    server_ = new ServerProcess(*work_ / "data");
    ASSERT_TRUE(server_->Start()) << server_->Log();
    std::string log;
    ASSERT_EQ(PushWithStorescu(push, server_->port(), 1, log), push.size()) << log << server_->Log();
    ready_ = true;
  }

  // A failed suite set-up must fail every test, not skip it.
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's set-up failed (see above)"; }

  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    fs::remove_all(*work_);
    delete work_;
    delete files_;
  }

  static FindResult Find(const FindRequest& request) {
    FindResult r = RunFindscu(server_->port(), request, *work_);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return r;
  }

  // Distinct values of `keyword` over the pushed files that satisfy `pred`.
  template <typename Pred>
  static std::set<std::string> Expected(const std::string& keyword, Pred pred) {
    std::set<std::string> out;
    for (const auto& f : *files_)
      if (pred(f)) out.insert(f[keyword]);
    return out;
  }
  static size_t CountFiles(const std::string& keyword, const std::string& value) {
    return static_cast<size_t>(
        std::count_if(files_->begin(), files_->end(), [&](const FileAttributes& f) { return f[keyword] == value; }));
  }

  static fs::path* work_;
  static std::vector<FileAttributes>* files_;
  static ServerProcess* server_;
  static bool ready_;
};
fs::path* QueryFindTest::work_ = nullptr;
std::vector<FileAttributes>* QueryFindTest::files_ = nullptr;
ServerProcess* QueryFindTest::server_ = nullptr;
bool QueryFindTest::ready_ = false;

const std::string kPhilipsStudy = "1.3.46.670589.33.1.15053592413351079234.27718218421047494460";

TEST_F(QueryFindTest, StudyByPatientIdReturnsCountsAndModalities) {
  auto r = Find({.level = "STUDY",
                 .keys = {"PatientID=PLASTIC", "StudyInstanceUID", "PatientName", "NumberOfStudyRelatedSeries",
                          "NumberOfStudyRelatedInstances", "ModalitiesInStudy", "StudyDate"}});
  ASSERT_EQ(r.responses.size(), 1u) << r.output;
  EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), std::set<std::string>{kPhilipsStudy});
  EXPECT_EQ(r.DistinctValues("PatientName"), std::set<std::string>{"HEAD"});
  const auto series = Expected("SeriesInstanceUID", [](auto& f) { return f["StudyInstanceUID"] == kPhilipsStudy; });
  EXPECT_EQ(r.DistinctValues("NumberOfStudyRelatedSeries"), std::set<std::string>{std::to_string(series.size())});
  EXPECT_EQ(r.DistinctValues("NumberOfStudyRelatedInstances"),
            std::set<std::string>{std::to_string(CountFiles("StudyInstanceUID", kPhilipsStudy))});
  EXPECT_EQ(r.DistinctValues("ModalitiesInStudy"), std::set<std::string>{"CT"});
  EXPECT_EQ(r.DistinctValues("StudyDate"), std::set<std::string>{"20150206"});
}

TEST_F(QueryFindTest, UniversalMatchingReturnsEveryStudy) {
  auto r = Find({.level = "STUDY", .keys = {"StudyInstanceUID", "PatientID"}});
  EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), Expected("StudyInstanceUID", [](auto&) { return true; }));
  EXPECT_EQ(r.responses.size(), Expected("StudyInstanceUID", [](auto&) { return true; }).size());
}

TEST_F(QueryFindTest, DateRangesClosedOpenAndSingle) {
  struct Case {
    std::string query;
    std::function<bool(const std::string&)> in;
  };
  const std::vector<Case> cases = {
      {"20150101-20151231", [](const std::string& d) { return d >= "20150101" && d <= "20151231"; }},
      {"-20040101", [](const std::string& d) { return !d.empty() && d <= "20040101"; }},
      {"20220101-", [](const std::string& d) { return d >= "20220101"; }},
      {"20150206", [](const std::string& d) { return d == "20150206"; }},
      {"19600101-19601231", [](const std::string& d) { return d >= "19600101" && d <= "19601231"; }},
  };
  for (const auto& c : cases) {
    auto r = Find({.level = "STUDY", .keys = {"StudyDate=" + c.query, "StudyInstanceUID"}});
    const auto expected = Expected("StudyInstanceUID", [&](auto& f) { return c.in(f["StudyDate"]); });
    EXPECT_FALSE(expected.empty()) << c.query;
    EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), expected) << c.query;
    EXPECT_EQ(r.responses.size(), expected.size()) << c.query;
  }
}

TEST_F(QueryFindTest, TimeRange) {
  auto r = Find({.level = "STUDY", .keys = {"StudyTime=090000-100000", "StudyInstanceUID"}});
  const auto expected = Expected("StudyInstanceUID", [](auto& f) {
    const std::string t = f["StudyTime"];
    return !t.empty() && t >= "090000" && t.substr(0, 6) <= "100000";
  });
  EXPECT_FALSE(expected.empty());
  EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), expected);
}

TEST_F(QueryFindTest, PersonNameWildcardsAreCaseInsensitive) {
  for (const std::string pattern : {"he*", "HE*", "?fs", "*breast*", "acrin-flt-breast_02?", "*"}) {
    auto r = Find({.level = "STUDY", .keys = {"PatientName=" + pattern, "StudyInstanceUID"}});
    const auto expected = Expected("StudyInstanceUID", [&](auto& f) {
      if (f["PatientName"].empty()) return pattern == "*";
      return fnmatch(pattern.c_str(), f["PatientName"].c_str(), FNM_CASEFOLD) == 0;
    });
    EXPECT_FALSE(expected.empty()) << pattern;
    EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), expected) << pattern;
  }
}

TEST_F(QueryFindTest, TextWildcardsAreCaseSensitive) {
  auto r = Find({.level = "STUDY", .keys = {"PatientID=ACRIN-FLT-Breast_02?", "StudyInstanceUID"}});
  EXPECT_EQ(r.responses.size(), 2u);
  r = Find({.level = "STUDY", .keys = {"PatientID=acrin*", "StudyInstanceUID"}});
  EXPECT_EQ(r.responses.size(), 0u);
}

TEST_F(QueryFindTest, UidListAccessionAndModalities) {
  const std::string ge = "1.2.826.0.1.3680043.9.4245.1760717064491086528325869788156915668";
  auto r = Find({.level = "STUDY", .keys = {"StudyInstanceUID=" + kPhilipsStudy + "\\" + ge + "\\1.2.3.4"}});
  EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), (std::set<std::string>{kPhilipsStudy, ge}));

  r = Find({.level = "STUDY", .keys = {"AccessionNumber=5534634656957015", "StudyInstanceUID"}});
  EXPECT_EQ(r.DistinctValues("StudyInstanceUID"),
            Expected("StudyInstanceUID", [](auto& f) { return f["AccessionNumber"] == "5534634656957015"; }));
  EXPECT_EQ(r.responses.size(), 1u);

  for (const std::string modalities : {"MR", "PT\\MR", "OT"}) {
    r = Find({.level = "STUDY", .keys = {"ModalitiesInStudy=" + modalities, "StudyInstanceUID"}});
    const auto expected = Expected("StudyInstanceUID", [&](auto& f) {
      return ("\\" + modalities + "\\").find("\\" + f["Modality"] + "\\") != std::string::npos;
    });
    EXPECT_FALSE(expected.empty()) << modalities;
    EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), expected) << modalities;
  }
}

TEST_F(QueryFindTest, CombinedKeysNarrowTheAnswer) {
  auto r = Find({.level = "STUDY", .keys = {"PatientID=1CT1", "StudyDate=20040101-", "StudyInstanceUID"}});
  EXPECT_EQ(r.DistinctValues("StudyInstanceUID"), Expected("StudyInstanceUID", [](auto& f) {
              return f["PatientID"] == "1CT1" && f["StudyDate"] >= "20040101";
            }));
  EXPECT_EQ(r.responses.size(), 1u);
}

TEST_F(QueryFindTest, PatientLevelInPatientRoot) {
  auto r =
      Find({.patient_root = true,
            .level = "PATIENT",
            .keys = {"PatientID", "PatientName", "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedInstances"}});
  EXPECT_EQ(r.DistinctValues("PatientID"), Expected("PatientID", [](auto&) { return true; }));
  r = Find({.patient_root = true,
            .level = "PATIENT",
            .keys = {"PatientID=1CT1", "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedInstances"}});
  ASSERT_EQ(r.responses.size(), 1u);
  EXPECT_EQ(r.DistinctValues("NumberOfPatientRelatedStudies"),
            std::set<std::string>{
                std::to_string(Expected("StudyInstanceUID", [](auto& f) { return f["PatientID"] == "1CT1"; }).size())});
  EXPECT_EQ(r.DistinctValues("NumberOfPatientRelatedInstances"),
            std::set<std::string>{std::to_string(CountFiles("PatientID", "1CT1"))});
  // Patient Root, STUDY level under a patient.
  r = Find({.patient_root = true, .level = "STUDY", .keys = {"PatientID=1CT1", "StudyInstanceUID"}});
  EXPECT_EQ(r.responses.size(), 2u);
}

TEST_F(QueryFindTest, SeriesOfAStudy) {
  auto r = Find({.level = "SERIES",
                 .keys = {"StudyInstanceUID=" + kPhilipsStudy, "SeriesInstanceUID", "Modality",
                          "NumberOfSeriesRelatedInstances", "SeriesNumber"}});
  const auto expected = Expected("SeriesInstanceUID", [](auto& f) { return f["StudyInstanceUID"] == kPhilipsStudy; });
  EXPECT_EQ(r.DistinctValues("SeriesInstanceUID"), expected);
  ASSERT_EQ(r.responses.size(), expected.size());
  for (const auto& rsp : r.responses) {
    OFString uid, count;
    rsp->getDataset()->findAndGetOFString(DCM_SeriesInstanceUID, uid);
    rsp->getDataset()->findAndGetOFString(DCM_NumberOfSeriesRelatedInstances, count);
    EXPECT_EQ(std::string(count.c_str()), std::to_string(CountFiles("SeriesInstanceUID", uid.c_str())));
  }
  // A series-level key narrows the series.
  r = Find({.level = "SERIES", .keys = {"StudyInstanceUID=" + kPhilipsStudy, "SeriesNumber=201", "SeriesInstanceUID"}});
  EXPECT_EQ(r.responses.size(), 1u);
}

TEST_F(QueryFindTest, InstancesOfASeriesAndByUid) {
  const std::string series = (*files_)[0]["SeriesInstanceUID"];
  const std::string study = (*files_)[0]["StudyInstanceUID"];
  auto r = Find({.level = "IMAGE",
                 .keys = {"StudyInstanceUID=" + study, "SeriesInstanceUID=" + series, "SOPInstanceUID", "SOPClassUID",
                          "InstanceNumber"}});
  const auto expected = Expected("SOPInstanceUID", [&](auto& f) { return f["SeriesInstanceUID"] == series; });
  EXPECT_EQ(r.DistinctValues("SOPInstanceUID"), expected);
  EXPECT_EQ(r.responses.size(), expected.size());

  const std::string a = *expected.begin(), b = *expected.rbegin();
  r = Find({.level = "IMAGE", .keys = {"StudyInstanceUID=" + study, "SOPInstanceUID=" + a + "\\" + b}});
  EXPECT_EQ(r.DistinctValues("SOPInstanceUID"), (std::set<std::string>{a, b}));
}

TEST_F(QueryFindTest, NameInLatin1MatchesLatin1AndUtf8StoredNames) {
  const std::string latin1 = "Buc^J\xe9r\xf4me";
  auto r = Find({.level = "STUDY",
                 .keys = {"StudyInstanceUID", "PatientID"},
                 .raw_values = {{"PatientName", latin1}},
                 .charset = "ISO_IR 100"});
  EXPECT_EQ(r.DistinctValues("PatientID"), (std::set<std::string>{"SCSFREN", "SCSFREN-UTF8"}));
  EXPECT_EQ(r.DistinctValues("PatientName"), std::set<std::string>{"Buc^J\xc3\xa9r\xc3\xb4me"});
  for (const auto& rsp : r.responses) {  // answered in the requester's character set
    OFString charset, name;
    rsp->getDataset()->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
    rsp->getDataset()->findAndGetOFString(DCM_PatientName, name);
    EXPECT_EQ(std::string(charset.c_str()), "ISO_IR 100");
    EXPECT_EQ(std::string(name.c_str()), latin1);
  }
}

TEST_F(QueryFindTest, NameInUtf8MatchesBothAndIgnoresCase) {
  auto r =
      Find({.level = "STUDY", .keys = {"PatientName=buc^j\xc3\xa9r\xc3\xb4me", "PatientID"}, .charset = "ISO_IR 192"});
  EXPECT_EQ(r.DistinctValues("PatientID"), (std::set<std::string>{"SCSFREN", "SCSFREN-UTF8"}));
  // A wildcard after a non-ASCII letter, in Latin-1.
  r = Find({.level = "STUDY",
            .keys = {"PatientID"},
            .raw_values = {{"PatientName", "\xc4neas^R\xfc*"}},
            .charset = "ISO_IR 100"});
  EXPECT_EQ(r.DistinctValues("PatientID"), std::set<std::string>{"SCSGERM"});
}

TEST_F(QueryFindTest, IdeographicNameGroupMatchesInUtf8) {
  auto r = Find({.level = "STUDY",
                 .keys = {"PatientName=\xe7\x8e\x8b^\xe5\xb0\x8f\xe6\x9d\xb1", "PatientID"},
                 .charset = "ISO_IR 192"});
  EXPECT_EQ(r.DistinctValues("PatientID"), std::set<std::string>{"X1EXAMPLE"});
  r = Find({.level = "STUDY", .keys = {"PatientName=WANG^XIAO*", "PatientID"}});
  EXPECT_EQ(r.DistinctValues("PatientID"), std::set<std::string>{"X1EXAMPLE"});
  ASSERT_EQ(r.responses.size(), 1u);
  OFString charset;
  r.responses[0]->getDataset()->findAndGetOFStringArray(DCM_SpecificCharacterSet, charset);
  EXPECT_EQ(std::string(charset.c_str()), "ISO_IR 192");  // the ideographic group is not ASCII
}

TEST_F(QueryFindTest, UnknownLevelIsRefusedAndTheServerGoesOn) {
  FindResult r = RunFindscu(server_->port(), {.level = "FOO", .keys = {"PatientID"}}, *work_);
  EXPECT_TRUE(r.responses.empty());
  EXPECT_NE(r.output.find("DataSetDoesNotMatchSOPClass"), std::string::npos) << r.output;
  auto ok = Find({.level = "STUDY", .keys = {"PatientID=PLASTIC"}});
  EXPECT_EQ(ok.responses.size(), 1u);
}

// GDCM 3.0.21 (Debian) aborts with "ProtocolStream as nullptr is invalid"
// while releasing any association, DCMTK's storescp included, before it
// prints the datasets; the exchange itself is checked in its debug output.
TEST_F(QueryFindTest, GdcmscuFindsStudies) {
  auto run = RunCommand({"gdcmscu", "-D", "--find", "--studyroot", "--study", "--call", "PACSCORE", "--key",
                         "10,20=PLASTIC", "--key", "20,d=", "127.0.0.1", std::to_string(server_->port())},
                        {}, std::chrono::seconds(60));
  EXPECT_NE(run.output.find("C-Find was successful"), std::string::npos) << run.output;
  std::regex pending(R"(\(0000,0900\) \?\? \(US\) 65280)");
  const auto n =
      std::distance(std::sregex_iterator(run.output.begin(), run.output.end(), pending), std::sregex_iterator());
  EXPECT_EQ(n, 2);  // one pending response (GDCM prints each command twice)
}

}  // namespace
}  // namespace pacs::testing
