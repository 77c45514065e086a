#pragma once

// The ReplicatorService: one core::Control call per RPC, statuses converted at the edge. When a
// token is set, every RPC here requires "authorization: Bearer <token>". Thread-safe.
// WaitForPosition uses gRPC's callback API: a waiting call holds no thread; the engine's commit
// (or the waiters' timer) finishes it.

#include <string>

#include "server/core/control.h"

#include "slate/replicator/v1/replicator.grpc.pb.h"

namespace slate::rpc {

class ReplicatorServiceImpl final
    : public ::slate::replicator::v1::ReplicatorService::WithCallbackMethod_WaitForPosition<
          ::slate::replicator::v1::ReplicatorService::Service> {
 public:
  // `control` must outlive the service. An empty token disables authentication.
  ReplicatorServiceImpl(core::Control* control, std::string token);

  grpc::Status GetStatus(grpc::ServerContext* context,
                         const ::slate::replicator::v1::GetStatusRequest* request,
                         ::slate::replicator::v1::GetStatusResponse* response) override;
  grpc::Status WatchStatus(
      grpc::ServerContext* context, const ::slate::replicator::v1::WatchStatusRequest* request,
      grpc::ServerWriter<::slate::replicator::v1::GetStatusResponse>* writer) override;
  grpc::Status Validate(grpc::ServerContext* context,
                        const ::slate::replicator::v1::ValidateRequest* request,
                        ::slate::replicator::v1::ValidateResponse* response) override;
  grpc::Status Stop(grpc::ServerContext* context,
                    const ::slate::replicator::v1::StopRequest* request,
                    ::slate::replicator::v1::StopResponse* response) override;
  grpc::Status Reload(grpc::ServerContext* context,
                      const ::slate::replicator::v1::ReloadRequest* request,
                      ::slate::replicator::v1::ReloadResponse* response) override;
  grpc::Status PauseDestination(
      grpc::ServerContext* context, const ::slate::replicator::v1::PauseDestinationRequest* request,
      ::slate::replicator::v1::PauseDestinationResponse* response) override;
  grpc::Status ResumeDestination(
      grpc::ServerContext* context,
      const ::slate::replicator::v1::ResumeDestinationRequest* request,
      ::slate::replicator::v1::ResumeDestinationResponse* response) override;
  grpc::ServerUnaryReactor* WaitForPosition(
      grpc::CallbackServerContext* context,
      const ::slate::replicator::v1::WaitForPositionRequest* request,
      ::slate::replicator::v1::WaitForPositionResponse* response) override;

 private:
  grpc::Status Authorize(const grpc::ServerContextBase& context) const;

  core::Control* const control_;
  const std::string token_;
};

}  // namespace slate::rpc
