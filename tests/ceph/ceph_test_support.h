// File: ceph_test_support.h
// What the Ceph tests share: the development cluster that the ctest fixture
// `ceph_cluster` starts (tests/ceph/ceph_cluster.sh; its ceph.conf in
// PACS_CEPH_CONF), and a fresh pool per test, created and removed through
// librados, so that object counts belong to one test.
#pragma once

#include <rados/librados.hpp>

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
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
