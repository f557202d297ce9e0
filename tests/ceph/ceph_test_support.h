// File: ceph_test_support.h
// What the Ceph tests share: the development cluster that the ctest fixture
// `ceph_cluster` starts (tests/ceph/ceph_cluster.sh; its ceph.conf in
// PACS_CEPH_CONF), and a fresh pool per test, created and removed through
// librados, so that object counts belong to one test.
#pragma once

#include <rados/librados.hpp>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace pacs::testing {

inline std::string CephConf() {
  const char* conf = std::getenv("PACS_CEPH_CONF");
  return conf == nullptr ? std::string() : std::string(conf);
}

// An admin connection to the development cluster and one pool of its own.
class CephPool {
 public:
  explicit CephPool(const std::string& name) : name_(name) {
    if (CephConf().empty()) {
      error_ = "PACS_CEPH_CONF is not set: run the Ceph tests through ctest (fixture ceph_cluster)";
      return;
    }
    int rc = cluster_.init("admin");
    if (rc == 0) rc = cluster_.conf_read_file(CephConf().c_str());
    if (rc == 0) rc = cluster_.connect();
    if (rc < 0) {
      error_ = "cannot connect to the development cluster (" + CephConf() + "): " + std::to_string(rc);
      return;
    }
    connected_ = true;
    cluster_.pool_delete(name_.c_str());  // left over from an interrupted run
    rc = cluster_.pool_create(name_.c_str());
    if (rc == 0) rc = cluster_.ioctx_create(name_.c_str(), io_);
    if (rc < 0) error_ = "cannot create pool " + name_ + ": " + std::to_string(rc);
  }
  ~CephPool() {
    if (!connected_) return;
    io_.close();
    cluster_.pool_delete(name_.c_str());
    cluster_.shutdown();
  }
  CephPool(const CephPool&) = delete;
  CephPool& operator=(const CephPool&) = delete;

  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  librados::IoCtx& io() { return io_; }

  // Whether the cluster answers a write and a read of a probe object in this
  // pool three times in a row, a second apart, within `within`. After an
  // OSD was stopped (SIGSTOP) and resumed it may still be marked down and
  // back up for a while; tests wait for this before they judge the node.
  bool AnswersSteadily(std::chrono::seconds within) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    int in_a_row = 0;
    while (in_a_row < 3 && std::chrono::steady_clock::now() < deadline) {
      librados::bufferlist out;
      out.append("probe");
      librados::bufferlist in;
      const bool ok = io_.write_full("steadiness-probe", out) == 0 && io_.read("steadiness-probe", in, 16, 0) >= 0;
      in_a_row = ok ? in_a_row + 1 : 0;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    io_.remove("steadiness-probe");
    return in_a_row >= 3;
  }

  // The objects in the pool whose names start with `prefix`, and their bytes.
  std::vector<std::string> Objects(const std::string& prefix, uint64_t* bytes = nullptr) {
    std::vector<std::string> names;
    if (bytes != nullptr) *bytes = 0;
    for (auto it = io_.nobjects_begin(); it != io_.nobjects_end(); ++it) {
      if (!it->get_oid().starts_with(prefix)) continue;
      names.push_back(it->get_oid());
      if (bytes != nullptr) {
        uint64_t size = 0;
        time_t mtime = 0;
        if (io_.stat(it->get_oid(), &size, &mtime) == 0) *bytes += size;
      }
    }
    return names;
  }

 private:
  std::string name_;
  std::string error_;
  bool connected_ = false;
  librados::Rados cluster_;
  librados::IoCtx io_;
};

inline std::string TestPoolName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string("t_") + info->test_suite_name() + "_" + info->name();
  for (char& c : name)
    if (c == '/') c = '_';
  return name;
}

}  // namespace pacs::testing
