// DCMTK logs through oflog (its copy of log4cplus), whose console appender
// writes "E: message" with no time. Its lines go through pacs::Log instead:
// the same timestamps, format (text or JSON) and destination (--log-file)
// as ours.
#include <string>
#include <string_view>

#include "dcmtk/config/osconfig.h"
#include "dcmtk/oflog/appender.h"
#include "dcmtk/oflog/logger.h"
#include "dcmtk/oflog/spi/logevent.h"
#include "pacs/base/log.h"
#include "pacs/dicom/dicom_library.h"

namespace pacs::dicom {
namespace {

namespace oflog = dcmtk::log4cplus;

class OurLogAppender final : public oflog::Appender {
 public:
  OurLogAppender() = default;
  ~OurLogAppender() override { destructorImpl(); }
  OurLogAppender(const OurLogAppender&) = delete;
  OurLogAppender& operator=(const OurLogAppender&) = delete;
  void close() override {}

 protected:
  void append(const oflog::spi::InternalLoggingEvent& event) override {
    const oflog::LogLevel level = event.getLogLevel();
    const LogLevel ours = level >= oflog::ERROR_LOG_LEVEL  ? LogLevel::kError
                          : level >= oflog::WARN_LOG_LEVEL ? LogLevel::kWarning
                          : level >= oflog::INFO_LOG_LEVEL ? LogLevel::kInfo
                                                           : LogLevel::kDebug;
    // "dcmtk.dcmnet: ...": which DCMTK module spoke. A message of several
    // lines (a dataset dump) becomes one log line per line, each stamped.
    const std::string prefix = std::string(event.getLoggerName()) + ": ";
    std::string_view message(event.getMessage().c_str(), event.getMessage().size());
    while (!message.empty()) {
      const size_t end = message.find('\n');
      const std::string_view line = message.substr(0, end);
      if (!line.empty()) Log(ours, prefix + std::string(line));
      if (end == std::string_view::npos) break;
      message.remove_prefix(end + 1);
    }
  }
};

}  // namespace

void RouteDcmtkLogging() {
  oflog::Logger root = oflog::Logger::getRoot();
  root.removeAllAppenders();
  root.addAppender(oflog::SharedAppenderPtr(new OurLogAppender()));
}

void SetDcmtkLogVerbose(bool verbose) {
  oflog::Logger::getRoot().setLogLevel(verbose ? oflog::DEBUG_LOG_LEVEL : oflog::WARN_LOG_LEVEL);
}

}  // namespace pacs::dicom
