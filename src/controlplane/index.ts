export {
  CONTROL_PLANE_GRPC_OPTIONS,
  type ControlPlaneGrpcServer,
  type ControlPlaneGrpcServerOptions,
  createControlPlaneGrpcServer,
  DEFAULT_CONTROL_PLANE_PORT,
} from './server.js';
