import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  create,
  createFileRegistry,
  fromBinary,
  type DescMessage,
  type DescMethodUnary,
  type DescService,
} from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  file_google_protobuf_descriptor,
  file_google_protobuf_timestamp,
  timestampFromMs,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";
import { Code, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../gen/grpc/health/v1/health_pb.js";
import * as v1 from "../../gen/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/grpc/reflection/v1alpha/reflection_pb.js";
import { HealthService, registerHealth } from "../../src/server/health.js";
import { startServer, type RunningServer } from "../../src/server/listen.js";
import { ReflectionIndex, registerReflection, type ReflectionRequest } from "../../src/server/reflection.js";

const execFileAsync = promisify(execFile);
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

// A service built at run time whose file imports two well-known types and declares an extension, so
// the transitive-dependency and extension paths are exercised (the vendored grpc protos have neither).
const clockFileProto = create(FileDescriptorProtoSchema, {
  name: "test/clock/v1/clock.proto",
  package: "test.clock.v1",
  syntax: "proto3",
  dependency: ["google/protobuf/timestamp.proto", "google/protobuf/descriptor.proto"],
  messageType: [
    { name: "NowRequest" },
    {
      name: "NowResponse",
      field: [
        {
          name: "time",
          jsonName: "time",
          number: 1,
          label: FieldDescriptorProto_Label.OPTIONAL,
          type: FieldDescriptorProto_Type.MESSAGE,
          typeName: ".google.protobuf.Timestamp",
        },
      ],
    },
  ],
  enumType: [
    {
      name: "Zone",
      value: [
        { name: "ZONE_UNSPECIFIED", number: 0 },
        { name: "ZONE_UTC", number: 1 },
      ],
    },
  ],
  service: [
    {
      name: "ClockService",
      method: [{ name: "Now", inputType: ".test.clock.v1.NowRequest", outputType: ".test.clock.v1.NowResponse" }],
    },
  ],
  extension: [
    {
      name: "clock_tag",
      jsonName: "clockTag",
      number: 50123,
      label: FieldDescriptorProto_Label.OPTIONAL,
      type: FieldDescriptorProto_Type.STRING,
      extendee: ".google.protobuf.MethodOptions",
    },
  ],
});
const clockRegistry = createFileRegistry(clockFileProto, (name) =>
  name === "google/protobuf/timestamp.proto"
    ? file_google_protobuf_timestamp
    : name === "google/protobuf/descriptor.proto"
      ? file_google_protobuf_descriptor
      : undefined,
);
const ClockService = clockRegistry.getService("test.clock.v1.ClockService") as DescService;
const NowResponse = clockRegistry.getMessage("test.clock.v1.NowResponse") as DescMessage;

const decodeNames = (files: Uint8Array[]) => files.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);

describe("ReflectionIndex", () => {
  const index = new ReflectionIndex([Health, ClockService]);
  const req = (messageRequest: ReflectionRequest["messageRequest"]): ReflectionRequest => ({ host: "", messageRequest });

  it("lists only the services it was given", () => {
    expect(index.listServices()).toEqual(["grpc.health.v1.Health", "test.clock.v1.ClockService"]);
  });

  it("resolves messages, fields, enums, enum values, services, methods and extensions", () => {
    const health = "grpc/health/v1/health.proto";
    for (const symbol of [
      "grpc.health.v1.Health",
      "grpc.health.v1.Health.Watch",
      "grpc.health.v1.HealthCheckRequest",
      "grpc.health.v1.HealthCheckRequest.service",
      "grpc.health.v1.HealthCheckResponse.ServingStatus",
      "grpc.health.v1.HealthCheckResponse.SERVING",
      ".grpc.health.v1.HealthListResponse",
    ]) {
      expect(index.fileContainingSymbol(symbol)?.proto.name, symbol).toBe(health);
    }
    expect(index.fileContainingSymbol("test.clock.v1.ZONE_UTC")?.proto.name).toBe("test/clock/v1/clock.proto");
    expect(index.fileContainingSymbol("test.clock.v1.clock_tag")?.proto.name).toBe("test/clock/v1/clock.proto");
    expect(index.fileContainingSymbol("google.protobuf.Timestamp")?.proto.name).toBe("google/protobuf/timestamp.proto");
    expect(index.fileContainingSymbol("grpc.health.v1.Nope")).toBeUndefined();
    expect(index.extensionNumbers("google.protobuf.MethodOptions")).toEqual([50123]);
    expect(index.extensionNumbers("grpc.health.v1.HealthCheckRequest")).toEqual([]);
    expect(index.extensionNumbers("no.Such")).toBeUndefined();
  });

  it("sends a file with its transitive dependencies, each dependency once per stream", () => {
    const sent = new Set<string>();
    const first = index.respond(req({ case: "fileContainingSymbol", value: "test.clock.v1.ClockService" }), sent);
    expect(first.case).toBe("fileDescriptorResponse");
    const names = decodeNames(first.case === "fileDescriptorResponse" ? first.value.fileDescriptorProto : []);
    expect(names[0]).toBe("test/clock/v1/clock.proto");
    expect(new Set(names)).toEqual(
      new Set(["test/clock/v1/clock.proto", "google/protobuf/timestamp.proto", "google/protobuf/descriptor.proto"]),
    );
    // The requested file is always sent again; its already-sent dependencies are not.
    const again = index.respond(req({ case: "fileByFilename", value: "test/clock/v1/clock.proto" }), sent);
    expect(decodeNames(again.case === "fileDescriptorResponse" ? again.value.fileDescriptorProto : [])).toEqual([
      "test/clock/v1/clock.proto",
    ]);
    const dep = index.respond(req({ case: "fileByFilename", value: "google/protobuf/timestamp.proto" }), sent);
    expect(decodeNames(dep.case === "fileDescriptorResponse" ? dep.value.fileDescriptorProto : [])).toEqual([
      "google/protobuf/timestamp.proto",
    ]);
  });

  it("answers misses and empty requests with error_response", () => {
    expect(index.respond(req({ case: "fileByFilename", value: "nope.proto" }))).toMatchObject({
      case: "errorResponse",
      value: { errorCode: Code.NotFound },
    });
    expect(
      index.respond(req({ case: "fileContainingExtension", value: { containingType: "x.Y", extensionNumber: 1 } })),
    ).toMatchObject({ case: "errorResponse", value: { errorCode: Code.NotFound } });
    expect(index.respond(req({ case: undefined }))).toMatchObject({
      case: "errorResponse",
      value: { errorCode: Code.InvalidArgument },
    });
  });
});

describe("gRPC reflection over the sniffing server", () => {
  let server: RunningServer;

  beforeAll(async () => {
    const health = new HealthService();
    server = await startServer({
      host: "127.0.0.1",
      port: 0,
      routes: (router) => {
        registerHealth(router, health);
        router.rpc(ClockService.methods[0] as DescMethodUnary<DescMessage, DescMessage>, () =>
          create(NowResponse, { time: timestampFromMs(Date.UTC(2026, 0, 2, 3, 4, 5)) }),
        );
        registerReflection(router, [Health, ClockService]);
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  // v1 and v1alpha have the same message shapes; run the same checks against both.
  const versions = [
    { name: "v1", service: v1.ServerReflection, fqn: "grpc.reflection.v1.ServerReflection" },
    { name: "v1alpha", service: v1alpha.ServerReflection, fqn: "grpc.reflection.v1alpha.ServerReflection" },
  ] as const;

  for (const version of versions) {
    describe(version.name, () => {
      async function ask(...requests: ReflectionRequest[]) {
        // Both versions' clients take the same request shape; the cast picks one signature.
        const client = createClient(version.service as typeof v1.ServerReflection, createGrpcTransport({ baseUrl: server.url }));
        async function* reqs() {
          for (const r of requests) yield r;
        }
        const out = [];
        for await (const res of client.serverReflectionInfo(reqs())) out.push(res);
        return out;
      }

      it("lists services including grpc.health.v1.Health and both reflection services", async () => {
        const [res] = await ask({ host: "h", messageRequest: { case: "listServices", value: "" } });
        expect(res.validHost).toBe("h");
        expect(res.originalRequest?.messageRequest.case).toBe("listServices");
        expect(res.messageResponse.case).toBe("listServicesResponse");
        const names = res.messageResponse.case === "listServicesResponse" ? res.messageResponse.value.service.map((s) => s.name) : [];
        expect(names).toEqual(
          expect.arrayContaining([
            "grpc.health.v1.Health",
            "test.clock.v1.ClockService",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
          ]),
        );
        expect(names).toContain(version.fqn);
      });

      it("file_containing_symbol grpc.health.v1.Health returns a FileDescriptorProto naming the service", async () => {
        const [res] = await ask({ host: "", messageRequest: { case: "fileContainingSymbol", value: "grpc.health.v1.Health" } });
        expect(res.messageResponse.case).toBe("fileDescriptorResponse");
        const files: FileDescriptorProto[] =
          res.messageResponse.case === "fileDescriptorResponse"
            ? res.messageResponse.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b))
            : [];
        expect(files[0].name).toBe("grpc/health/v1/health.proto");
        expect(files[0].package).toBe("grpc.health.v1");
        expect(files[0].service.map((s) => s.name)).toEqual(["Health"]);
        expect(files[0].service[0].method.map((m) => m.name)).toEqual(["Check", "Watch", "List"]);
      });

      it("several requests on one stream; unknown symbol gives error_response NOT_FOUND (5)", async () => {
        const out = await ask(
          { host: "", messageRequest: { case: "fileContainingSymbol", value: "no.such.Symbol" } },
          { host: "", messageRequest: { case: "fileByFilename", value: "test/clock/v1/clock.proto" } },
          { host: "", messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
          {
            host: "",
            messageRequest: {
              case: "fileContainingExtension",
              value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 50123 },
            },
          },
        );
        expect(out).toHaveLength(4);
        expect(out[0].messageResponse).toMatchObject({ case: "errorResponse", value: { errorCode: 5 } });
        const clock = out[1].messageResponse;
        expect(clock.case).toBe("fileDescriptorResponse");
        expect(decodeNames(clock.case === "fileDescriptorResponse" ? clock.value.fileDescriptorProto : [])).toEqual(
          expect.arrayContaining(["test/clock/v1/clock.proto", "google/protobuf/timestamp.proto"]),
        );
        expect(out[2].messageResponse).toMatchObject({
          case: "allExtensionNumbersResponse",
          value: { baseTypeName: "google.protobuf.MethodOptions", extensionNumber: [50123] },
        });
        const ext = out[3].messageResponse;
        expect(decodeNames(ext.case === "fileDescriptorResponse" ? ext.value.fileDescriptorProto : [])).toEqual([
          "test/clock/v1/clock.proto",
        ]);
      });
    });
  }

  describe("buf curl (real binary, --protocol grpc --http2-prior-knowledge --reflect)", () => {
    async function bufCurl(...args: string[]): Promise<string> {
      const { stdout } = await execFileAsync(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect", ...args], {
        timeout: 15_000,
      });
      return stdout;
    }

    it("--list-services lists health, reflection and the clock service", async () => {
      const lines = (await bufCurl("--list-services", server.url)).trim().split("\n").sort();
      expect(lines).toEqual([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "test.clock.v1.ClockService",
      ]);
    });

    it("--list-methods works over the v1alpha reflection protocol", async () => {
      const out = await bufCurl("--reflect-protocol", "grpc-v1alpha", "--list-methods", server.url);
      expect(out.trim().split("\n")).toEqual(
        expect.arrayContaining([
          "grpc.health.v1.Health/Check",
          "grpc.health.v1.Health/Watch",
          "grpc.health.v1.Health/List",
          "grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
          "test.clock.v1.ClockService/Now",
        ]),
      );
    });

    it("calls grpc.health.v1.Health/Check and prints its JSON", async () => {
      const out = await bufCurl("-d", '{"service":""}', `${server.url}/grpc.health.v1.Health/Check`);
      expect(JSON.parse(out)).toEqual({ status: "SERVING" });
    });

    it("calls a method whose response uses a well-known type resolved through reflection", async () => {
      const out = await bufCurl("-d", "{}", `${server.url}/test.clock.v1.ClockService/Now`);
      expect(JSON.parse(out)).toEqual({ time: "2026-01-02T03:04:05Z" });
    });
  });
});
