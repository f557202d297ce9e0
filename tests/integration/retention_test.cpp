// Issue 14: retention rules, storage quotas and study protection against the
// real `pacscore serve` (and offline on a data folder), with studies made
// from one small corpus MR slice: dcmodify gives each copy its own UIDs,
// StudyDate and pixel values (distinct pixels, or dedup would make copies
// free), so the bytes each deletion frees are known exactly.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <random>
#include <set>
#include <thread>

#include "corpus.h"
#include "test_support.h"

namespace pacs::testing {
namespace {

namespace fs = std::filesystem;

// 176 x 176, 16 bits allocated, 12 stored, explicit VR little endian, StudyDate 20061217, MR.
constexpr char kBaseFile[] = "suyashkumar_dicom/mr_tcia_prostate_mri_3.dcm";
constexpr uint64_t kFrameBytes = uint64_t{176} * 176 * 2;  // one stored frame with --codec none
constexpr char kUidRoot[] = "1.2.826.0.1.3680043.9.7777.14";

struct Study {
  std::string uid;
  std::string patient_id;
  std::vector<fs::path> files;
};

std::string Today(int days_ago = 0) {
  const std::time_t t = std::time(nullptr) - static_cast<std::time_t>(days_ago) * 86400;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[16];
  std::strftime(text, sizeof text, "%Y%m%d", &tm);
  return text;
}

class RetentionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = MakeTempDir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    base_ = CorpusDir() / kBaseFile;
    ASSERT_TRUE(fs::exists(base_)) << base_;
  }
  void TearDown() override {
    server_.reset();
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // Pixel values of one distinct slice (12-bit, seeded) written to a file for dcmodify -mf.
  fs::path PixelFile(uint32_t seed) {
    fs::path path = dir_ / ("pixels_" + std::to_string(seed) + ".raw");
    if (fs::exists(path)) return path;
    std::mt19937 random(seed);
    std::string bytes(kFrameBytes, '\0');
    for (size_t i = 0; i < bytes.size(); i += 2) {
      const auto v = static_cast<uint16_t>(random() & 0x0FFF);
      bytes[i] = static_cast<char>(v & 0xFF);
      bytes[i + 1] = static_cast<char>(v >> 8);
    }
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }

  // A study of `instances` slices, each with the pixels of seed pixel_seeds[i].
  Study MakeStudy(int number, const std::string& study_date, const std::vector<uint32_t>& pixel_seeds) {
    Study study;
    study.uid = std::string(kUidRoot) + "." + std::to_string(number);
    study.patient_id = "RET-" + std::to_string(number);
    for (size_t i = 0; i < pixel_seeds.size(); ++i) {
      const fs::path file = dir_ / "studies" / std::to_string(number) / (std::to_string(i) + ".dcm");
      fs::create_directories(file.parent_path());
      fs::copy_file(base_, file, fs::copy_options::overwrite_existing);
      fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write);
      auto r = RunCommand(
          {"dcmodify", "-nb", "-m", "StudyInstanceUID=" + study.uid, "-m", "SeriesInstanceUID=" + study.uid + ".1",
           "-m", "SOPInstanceUID=" + study.uid + ".1." + std::to_string(i + 1), "-m", "StudyDate=" + study_date, "-m",
           "PatientID=" + study.patient_id, "-mf", "PixelData=" + PixelFile(pixel_seeds[i]).string(), file.string()});
      EXPECT_EQ(r.exit_code, 0) << r.output;
      study.files.push_back(file);
    }
    return study;
  }

  void StartServer(std::vector<std::string> args) {
    args.insert(args.end(), {"--codec", "none"});  // stored bytes = pixel bytes, exactly
    server_ = std::make_unique<ServerProcess>(dir_ / "data", args);
    ASSERT_TRUE(server_->Start()) << server_->Log();
  }

  // storescu of one study's files; its output.
  CommandResult Push(const Study& study) {
    std::vector<std::string> argv = {"storescu", "-v",        "-aec",
                                     "PACSCORE", "127.0.0.1", std::to_string(server_->port())};
    for (const auto& f : study.files) argv.push_back(f.string());
    return RunCommand(argv, {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
  }

  CommandResult Pacscore(std::vector<std::string> args) {
    args.insert(args.begin(), PacscoreBinary());
    args.insert(args.end(), {"--data", (dir_ / "data").string()});
    return RunCommand(args, {}, std::chrono::seconds(120));
  }

  tools::Json Retention(std::vector<std::string> args) {
    args.insert(args.begin(), "retention");
    args.emplace_back("--json");
    auto r = Pacscore(args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    // Offline, the audit log lines (stderr) come before the JSON (stdout).
    const size_t brace = r.output.starts_with("{") ? 0 : r.output.find("\n{");
    auto json = tools::ParseJson(brace == std::string::npos ? r.output : r.output.substr(brace));
    EXPECT_TRUE(json.ok()) << r.output;
    return json.ok() ? *json : tools::Json::object();
  }

  long long Stat(const std::string& key) { return StatsJson(dir_ / "data").value(key, -1LL); }

  // The study exported through the server equals the files sent, attribute by attribute.
  void ExpectExportsExactly(const Study& study) {
    const fs::path out = dir_ / ("export_" + study.patient_id);
    auto r = Pacscore({"export", "--out", out.string(), "--study", study.uid});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (size_t i = 0; i < study.files.size(); ++i) {
      const fs::path exported =
          out / study.uid / (study.uid + ".1") / (study.uid + ".1." + std::to_string(i + 1) + ".dcm");
      ASSERT_TRUE(fs::exists(exported)) << exported;
      EXPECT_EQ(CompareFiles(study.files[i], exported), "") << study.uid;
    }
  }

  static std::set<std::string> StudiesIn(const tools::Json& reply) {
    std::set<std::string> out;
    for (const auto& s : reply.value("studies", tools::Json::array())) out.insert(s.value("study", ""));
    return out;
  }

  fs::path dir_, base_;
  std::unique_ptr<ServerProcess> server_;
};

// The rules come from a --config file; the dry run lists exactly the old,
// unprotected studies with their counts and the bytes only they reference
// (a study whose pixels a kept study shares frees nothing), deletes nothing;
// the real run then frees exactly what the dry run said and logs an audit line.
TEST_F(RetentionTest, DryRunListsOldStudiesWithCountsAndRealBytesAndDeletesNothing) {
  const Study old_two = MakeStudy(1, "19900101", {11, 12});
  const Study old_shared = MakeStudy(2, "19950101", {13});  // same pixels as `recent`
  const Study recent = MakeStudy(3, Today(1), {13});
  const Study old_protected = MakeStudy(4, "19800101", {14});
  const Study old_three = MakeStudy(5, "19850101", {15});
  const fs::path config = dir_ / "serve.json";
  std::ofstream(config) << R"({"retention-rule": ["study-date>3650d:MR"], "retention-interval": "0"})";
  StartServer({"--config", config.string()});
  for (const Study* s : {&old_two, &old_shared, &recent, &old_protected, &old_three}) {
    auto r = Push(*s);
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  // Rules filter on ModalitiesInStudy: a CT/DX rule catches none of these MR studies.
  auto protect = Pacscore({"protect", "--study", old_protected.uid});
  ASSERT_EQ(protect.exit_code, 0) << protect.output;
  auto ct_only = Retention({"--dry-run", "--retention-rule", "study-date>3650d:CT,DX"});
  EXPECT_TRUE(StudiesIn(ct_only).empty()) << ct_only.dump();

  const long long instances_before = Stat("instances");
  const long long bytes_before = Stat("pixel_chunk_bytes");
  ASSERT_EQ(instances_before, 6);
  ASSERT_EQ(bytes_before, static_cast<long long>(5 * kFrameBytes));  // 6 slices, 5 distinct

  auto dry = Retention({"--dry-run"});  // the server's own rule (from --config)
  EXPECT_TRUE(dry.value("dry_run", false));
  EXPECT_EQ(StudiesIn(dry), (std::set<std::string>{old_two.uid, old_shared.uid, old_three.uid})) << dry.dump();
  EXPECT_EQ(dry.value("instances", -1), 4);
  EXPECT_EQ(dry.value("freed_bytes", -1LL), static_cast<long long>(3 * kFrameBytes));
  EXPECT_EQ(dry.value("protected_studies", -1), 1);
  for (const auto& s : dry["studies"]) {
    const std::string uid = s.value("study", "");
    const long long expected = uid == old_two.uid ? 2 * kFrameBytes : uid == old_shared.uid ? 0 : kFrameBytes;
    EXPECT_EQ(s.value("freed_bytes", -1LL), expected) << uid;
    EXPECT_EQ(s.value("instances", -1), uid == old_two.uid ? 2 : 1) << uid;
    EXPECT_EQ(s.value("reason", ""), "study-date>3650d:MR") << uid;
  }
  EXPECT_EQ(Stat("instances"), instances_before) << "the dry run deleted something";
  EXPECT_EQ(Stat("pixel_chunk_bytes"), bytes_before);

  auto run = Retention({});
  EXPECT_FALSE(run.value("dry_run", true));
  EXPECT_EQ(run.value("deleted_studies", -1), 3) << run.dump();
  EXPECT_EQ(run.value("deleted_instances", -1), 4);
  EXPECT_EQ(Stat("instances"), 2);
  EXPECT_EQ(Stat("pixel_chunk_bytes"), bytes_before - static_cast<long long>(3 * kFrameBytes));
  const std::string log = server_->Log();
  for (const Study* s : {&old_two, &old_shared, &old_three})
    EXPECT_NE(log.find("retention audit: deleted study " + s->uid + " (patient ID '" + s->patient_id + "'"),
              std::string::npos)
        << log;
  EXPECT_NE(log.find("by rule 'study-date>3650d:MR', requested by pacscore retention (admin endpoint)"),
            std::string::npos)
      << log;
  ExpectExportsExactly(recent);
  ExpectExportsExactly(old_protected);
}

// Offline on a data folder: a protected old study survives a real run, the
// unprotected one goes; unprotecting makes it deletable; a manual delete of a
// protected study still works.
TEST_F(RetentionTest, ProtectedOldStudySurvivesARealRunOffline) {
  const Study kept = MakeStudy(1, "19900101", {21});
  const Study dropped = MakeStudy(2, "19900102", {22});
  const Study manual = MakeStudy(3, "19900103", {23});
  auto import = Pacscore({"import", "--codec", "none", (dir_ / "studies").string()});
  ASSERT_EQ(import.exit_code, 0) << import.output;
  for (const Study* s : {&kept, &manual}) {
    auto r = Pacscore({"protect", "--study", s->uid});
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  auto missing = Pacscore({"protect", "--study", "1.2.3.4.5.404"});
  EXPECT_NE(missing.exit_code, 0) << missing.output;
  auto list = Pacscore({"protect", "--list"});
  EXPECT_NE(list.output.find(kept.uid), std::string::npos) << list.output;

  auto run = Retention({"--retention-rule", "study-date>365d"});
  EXPECT_EQ(StudiesIn(run), std::set<std::string>{dropped.uid}) << run.dump();
  EXPECT_EQ(run.value("deleted_studies", -1), 1);
  EXPECT_EQ(Stat("instances"), 2);

  auto del = Pacscore({"delete", "--study", manual.uid});
  EXPECT_EQ(del.exit_code, 0) << del.output;
  EXPECT_EQ(Stat("instances"), 1);

  auto unprotect = Pacscore({"protect", "--study", kept.uid, "--unprotect"});
  ASSERT_EQ(unprotect.exit_code, 0) << unprotect.output;
  auto dry = Retention({"--dry-run", "--retention-rule", "study-date>365d"});
  EXPECT_EQ(StudiesIn(dry), std::set<std::string>{kept.uid}) << dry.dump();
  auto verify = Pacscore({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.output;
}

// Refuse mode: once the referenced bytes reach the quota a new study gets
// A700 (logged with the peer), an instance of a stored study is still
// accepted, and queries and retrievals go on.
TEST_F(RetentionTest, QuotaRefusesNewStudiesWithA700AndKeepsServing) {
  const Study first = MakeStudy(1, "20200101", {31, 32});
  const Study second = MakeStudy(2, "20200102", {33});
  const Study refused = MakeStudy(3, "20200103", {34});
  Study second_more = MakeStudy(2, "20200102", {33, 35});  // a later instance of the second study
  second_more.files.erase(second_more.files.begin());
  StartServer({"--storage-quota", std::to_string(2 * kFrameBytes + kFrameBytes / 2), "--on-quota", "refuse"});
  ASSERT_EQ(Push(first).exit_code, 0);
  ASSERT_EQ(Push(second).exit_code, 0);  // under the quota when it arrived
  auto over = Push(refused);
  EXPECT_NE(over.exit_code, 0) << over.output;
  EXPECT_NE(over.output.find("Received Store Response (Refused: OutOfResources)"), std::string::npos) << over.output;
  EXPECT_NE(server_->Log().find("storage quota reached"), std::string::npos) << server_->Log();
  EXPECT_NE(server_->Log().find("C-STORE from STORESCU@"), std::string::npos) << server_->Log();
  auto more = Push(second_more);
  EXPECT_EQ(more.exit_code, 0) << more.output;
  EXPECT_EQ(more.output.find("Refused"), std::string::npos) << more.output;
  EXPECT_EQ(Stat("instances"), 4);

  auto find = RunCommand({"findscu", "-S", "-aec", "PACSCORE", "-k", "QueryRetrieveLevel=STUDY", "-k",
                          "StudyInstanceUID", "127.0.0.1", std::to_string(server_->port())},
                         {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
  EXPECT_EQ(find.exit_code, 0) << find.output;
  EXPECT_NE(find.output.find(first.uid), std::string::npos) << find.output;
  EXPECT_EQ(find.output.find(refused.uid), std::string::npos) << find.output;
  const fs::path got = dir_ / "got";
  fs::create_directories(got);
  auto get = RunCommand({"getscu", "-S", "-aec", "PACSCORE", "-od", got.string(), "-k", "QueryRetrieveLevel=STUDY",
                         "-k", "StudyInstanceUID=" + first.uid, "127.0.0.1", std::to_string(server_->port())},
                        {{"TCP_NODELAY", "1"}}, std::chrono::seconds(60));
  EXPECT_EQ(get.exit_code, 0) << get.output;
  for (size_t i = 0; i < first.files.size(); ++i) {
    const fs::path retrieved = got / ("MR." + first.uid + ".1." + std::to_string(i + 1));
    ASSERT_TRUE(fs::exists(retrieved)) << get.output;
    EXPECT_EQ(CompareFiles(first.files[i], retrieved), "");
  }
}

// Evict mode under a steady push: the referenced bytes end at or under the
// quota, the newest studies and the protected one remain, and each remaining
// study exports exactly.
TEST_F(RetentionTest, QuotaEvictionUnderASteadyPushKeepsNewestAndProtected) {
  const uint64_t quota = 4 * kFrameBytes + kFrameBytes / 2;  // room for four studies of one slice
  StartServer({"--storage-quota", std::to_string(quota), "--on-quota", "evict"});
  const Study protected_study = MakeStudy(100, "20200101", {100});
  ASSERT_EQ(Push(protected_study).exit_code, 0);
  ASSERT_EQ(Pacscore({"protect", "--study", protected_study.uid}).exit_code, 0);
  std::vector<Study> pushed;
  for (int i = 0; i < 12; ++i) {
    pushed.push_back(MakeStudy(i + 1, "20200102", {static_cast<uint32_t>(200 + i)}));
    auto r = Push(pushed.back());
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  long long bytes = -1;
  for (int i = 0; i < 100; ++i) {  // the service checks every 0.5 s: up to 10 s
    bytes = Stat("pixel_chunk_bytes");
    if (bytes >= 0 && bytes <= static_cast<long long>(quota)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_LE(bytes, static_cast<long long>(quota));
  EXPECT_EQ(bytes, static_cast<long long>(4 * kFrameBytes));  // eviction stops as soon as it is under
  EXPECT_EQ(Stat("studies"), 4);
  ExpectExportsExactly(protected_study);
  for (size_t i = pushed.size() - 3; i < pushed.size(); ++i) ExpectExportsExactly(pushed[i]);
  const std::string log = server_->Log();
  EXPECT_NE(log.find("retention audit: deleted study " + pushed[0].uid), std::string::npos) << log;
  EXPECT_NE(log.find("by quota eviction, requested by quota eviction"), std::string::npos) << log;
  EXPECT_EQ(log.find("retention audit: deleted study " + protected_study.uid), std::string::npos) << log;
}

}  // namespace
}  // namespace pacs::testing
