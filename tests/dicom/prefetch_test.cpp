// The prefetch queue of retrieval (prefetch.h): items come out in order
// whatever order the workers finish them in, the bytes held never pass the
// cap (an item larger than the cap is built alone), a failed or throwing
// build is that item's error and nothing else's, and stopping ends the
// workers after the item each is building.
#include "pacs/dicom/prefetch.h"

#include <atomic>
#include <chrono>
#include <random>
#include <stdexcept>
#include <thread>

#include "gtest/gtest.h"

namespace pacs::dicom {
namespace {

struct Item {
  size_t index = 0;
  uint64_t bytes = 0;
};

// Builds item i in a few pseudo-random milliseconds, so that workers finish out of order.
OrderedPrefetcher<Item>::BuildFn SlowBuild(const std::vector<uint64_t>& sizes, std::atomic<int>* building = nullptr,
                                           std::atomic<int>* most_building = nullptr) {
  return [&sizes, building, most_building](size_t i) -> Result<Item> {
    if (building) {
      const int now = ++*building;
      int seen = most_building->load();
      while (now > seen && !most_building->compare_exchange_weak(seen, now)) {
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds((i * 7919) % 3000));
    if (building) --*building;
    return Item{i, sizes[i]};
  };
}

TEST(PrefetchTest, ItemsLeaveInOrderAndWorkersRunAtOnce) {
  const std::vector<uint64_t> sizes(200, 100);
  std::atomic<int> building{0}, most_building{0};
  OrderedPrefetcher<Item> prefetch(
      sizes.size(), SlowBuild(sizes, &building, &most_building), [&](size_t i) { return sizes[i]; },
      [](const Item& item) { return item.bytes; }, {.threads = 4, .max_queued_bytes = 1000});
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto item = prefetch.Next();
    ASSERT_TRUE(item.ok()) << item.status().ToString();
    EXPECT_EQ(item->index, i);
  }
  EXPECT_EQ(prefetch.threads(), 4u);
  EXPECT_GT(most_building.load(), 1) << "the items were built one at a time";
}

TEST(PrefetchTest, HeldBytesNeverPassTheCap) {
  std::vector<uint64_t> sizes;
  std::mt19937 random(7);
  for (int i = 0; i < 300; ++i) sizes.push_back(50 + random() % 200);
  const uint64_t cap = 600;
  OrderedPrefetcher<Item> prefetch(
      sizes.size(), SlowBuild(sizes), [&](size_t i) { return sizes[i]; }, [](const Item& item) { return item.bytes; },
      {.threads = 4, .max_queued_bytes = cap});
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto item = prefetch.Next();
    ASSERT_TRUE(item.ok());
    if (i % 10 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow peer: the queue fills
  }
  EXPECT_LE(prefetch.peak_bytes(), cap);
  EXPECT_GT(prefetch.peak_bytes(), 250u) << "the queue never held more than one item";
  prefetch.Stop();
  EXPECT_EQ(ReadPrefetchCounters().queued_bytes, 0u) << "bytes left counted after the queue stopped";
  EXPECT_GE(ReadPrefetchCounters().peak_queued_bytes, prefetch.peak_bytes());
}

TEST(PrefetchTest, AnItemLargerThanTheCapIsBuiltAlone) {
  const std::vector<uint64_t> sizes = {100, 100, 5000, 100, 100};
  OrderedPrefetcher<Item> prefetch(
      sizes.size(), SlowBuild(sizes), [&](size_t i) { return sizes[i]; }, [](const Item& item) { return item.bytes; },
      {.threads = 3, .max_queued_bytes = 300});
  for (size_t i = 0; i < sizes.size(); ++i) {
    auto item = prefetch.Next();
    ASSERT_TRUE(item.ok());
    EXPECT_EQ(item->index, i);
  }
  EXPECT_EQ(prefetch.peak_bytes(), 5000u) << "something else was held beside the large item";
}

TEST(PrefetchTest, AFailedOrThrowingBuildIsThatItemsErrorOnly) {
  const size_t count = 12;
  OrderedPrefetcher<Item> prefetch(
      count,
      [](size_t i) -> Result<Item> {
        if (i == 3) return Status::Corruption("frame 0 of instance 3 does not decode");
        if (i == 7) throw std::runtime_error("decoder blew up");
        return Item{i, 10};
      },
      [](size_t) { return uint64_t{10}; }, [](const Item& item) { return item.bytes; },
      {.threads = 2, .max_queued_bytes = 100});
  for (size_t i = 0; i < count; ++i) {
    auto item = prefetch.Next();
    if (i == 3) {
      ASSERT_FALSE(item.ok());
      EXPECT_EQ(item.status().code(), StatusCode::kCorruption);
      EXPECT_NE(item.status().message().find("instance 3"), std::string::npos);
    } else if (i == 7) {
      ASSERT_FALSE(item.ok());
      EXPECT_NE(item.status().message().find("decoder blew up"), std::string::npos);
    } else {
      ASSERT_TRUE(item.ok()) << i << ": " << item.status().ToString();
      EXPECT_EQ(item->index, i);
    }
  }
}

TEST(PrefetchTest, StoppingEndsTheWorkersAfterTheirCurrentItem) {
  std::atomic<int> built{0};
  auto prefetch = std::make_unique<OrderedPrefetcher<Item>>(
      100000,
      [&](size_t i) -> Result<Item> {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        ++built;
        return Item{i, 1};
      },
      [](size_t) { return uint64_t{1}; }, [](const Item& item) { return item.bytes; },
      PrefetchOptions{.threads = 2, .max_queued_bytes = 1ull << 30});
  ASSERT_TRUE(prefetch->Next().ok());
  const auto start = std::chrono::steady_clock::now();
  prefetch.reset();  // what an aborted association does
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_LT(built.load(), 100000);
  // A consumer that asks after Stop() gets an error, not a hang.
  OrderedPrefetcher<Item> stopped(
      3,
      [](size_t i) -> Result<Item> {
        return Item{i, 1};
      },
      [](size_t) { return uint64_t{1}; }, [](const Item& item) { return item.bytes; },
      {.threads = 1, .max_queued_bytes = 10});
  stopped.Stop();
  auto after = stopped.Next();
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), StatusCode::kBusy);
}

}  // namespace
}  // namespace pacs::dicom
