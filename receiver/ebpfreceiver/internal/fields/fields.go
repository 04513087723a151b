// Package fields names every struct field a probe reads in a Go program, by
// a field ID shared with the BPF programs. The list below is the single
// source: cmd/fieldgen writes it to bpf/common/go_fields.h as enum go_field,
// and a binary's offsets travel to the kernel as a Table indexed by ID, with
// Unknown where a field's offset is not known (or the field does not exist
// in that version). A probe states which IDs it needs; the loader resolves
// them from DWARF or the committed offsets table (goexe.FieldOffset).
package fields

import (
	"errors"
	"fmt"
	"strings"
)

//go:generate go run ./cmd/fieldgen -out ../../../../bpf/common/go_fields.h

// ID indexes a Table. The values are the enumerators of enum go_field in
// bpf/common/go_fields.h (generated from list).
type ID uint32

// Field IDs, in the order of list. Append new fields at the end.
const (
	RuntimeGGoid ID = iota
	RuntimeGM
	RuntimeMCurg
	RuntimeGParentGoid
	RequestMethod
	RequestURL
	RequestProtoMajor
	RequestProtoMinor
	RequestHost
	RequestRemoteAddr
	RequestPattern
	RequestTLS
	URLScheme
	URLHost
	URLPath
	URLRawQuery
	URLUser
	ResponseStatus
	ResponseConn
	ConnBufr
	BufioReaderBuf
	BufioReaderR
	ClientResponseStatusCode
	H2ResponseWriterRws
	H2ResponseWriterStateStatus
	GRPCServerStreamStream
	GRPCStreamCtx
	GRPCStreamMethod
	GRPCHTTP2ServerPeer
	GRPCPeerAddr
	GRPCPeerLocalAddr
	GRPCStatusS
	GRPCStatusProtoCode
	GRPCClientConnTarget
	GRPCStatusErrorS
	TCPAddrIP
	TCPAddrPort
	ValueCtxVal
	SwissMapDirPtr
	SwissMapDirLen
	SwissTableGroups
	GRPCServerStreamStreamPtr
	GRPCHTTP2ServerRemoteAddr
	GRPCHTTP2ServerLocalAddr
	GRPCStatusErrorE
	ConnRwc
	PersistConnConn
	SQLDriverConnCi
	SQLTxDc
	SQLTxDone
	PQErrorCode
	MySQLErrorNumber
	SQLQueryDCEntry
	SQLExecDCEntry
	SQLBeginDCEntry
	SQLTxCommitEntry
	SQLTxRollbackEntry
	PQErrorType
	MySQLErrorType
	RedisV9BaseClientOpt
	RedisV9OptionsAddr
	RedisV9BaseCmdArgs
	RedisV8BaseClientOpt
	RedisV8OptionsAddr
	RedisV8BaseCmdArgs
	RedisV9OptionsDB
	RedisV8OptionsDB
	H2ResponseWriterStateStream
	H2StreamSc
	H2StreamID
	H2MetaHeadersFrameFields
	HpackHeaderFieldName
	HpackHeaderFieldValue
	HpackHeaderFieldSensitive
	XNetResponseWriterRws
	XNetResponseWriterStateStream
	XNetResponseWriterStateStatus
	XNetStreamSc
	XNetStreamID
	XNetMetaHeadersFrameFields
	XNetHpackHeaderFieldName
	XNetHpackHeaderFieldValue
	XNetHpackHeaderFieldSensitive
	KafkaWriterTopic
	KafkaMessageTopic
	KafkaMessagePartition
	KafkaMessageOffset
	KafkaMessageHeaders
	KafkaReaderConfig
	KafkaReaderConfigGroupID
	KafkaMessageKey
	KafkaMessageValue
	KafkaWriteBatchMsgs
	KafkaWriteBatchErr
	KafkaWriterRequiredAcks
	KafkaPartitionWriterW
	SaramaProducerMessageTopic
	SaramaProducerMessageOffset
	SaramaProducerMessagePartition
	SaramaConsumerMessageTopic
	SaramaConsumerMessagePartition
	SaramaConsumerMessageOffset
	SaramaPartitionConsumerConsumer
	SaramaConsumerGroupConsumer
	SaramaConsumerGroupGroupID
	SaramaConsumerMessageHeaders
	SaramaRecordHeaderKey
	SaramaRecordHeaderValue
	SQLStmtDb
	SQLStmtQuery
	SQLTxDb
	SQLStmtExecEntry
	SQLStmtQueryEntry
	PgxPgErrorCode
	PgxPrepareErrorErr
	GRPCStreamID
	GRPCStreamCt
	GRPCClientStreamStream
	GRPCClientStreamCt
	GRPCClientStreamStreamPtr
	GRPCHTTP2ClientLocalAddr
	GRPCHTTP2ClientRemoteAddr
	GRPCStreamCtPtr
	GRPCCSAttemptCs
	GRPCClientStreamWrapperClientStream
	H2ClientStreamCc
	H2ClientStreamID
	H2ClientConnTconn
	H2ServerConnConn
	XNetClientStreamCc
	XNetClientStreamID
	XNetClientConnTconn
	XNetServerConnConn
	SaramaProducerMessageExpectation
	SaramaProducerMessageHeaders
	HmapFlags
	HmapB
	HmapBuckets
	HmapOldbuckets
	MDBucketKeys
	MDBucketValues
	MDBucketOverflow
	// Count is the number of field IDs (the length of a Table).
	Count
)

// Field describes one ID.
type Field struct {
	// Key is "importpath.Type.field", as in goexe.FieldOffset and
	// offsets_fields.txt.
	Key string
	// NotInTable: the committed offsets table does not list the field, so
	// without DWARF only a rule of the probe that needs it can fill it in.
	NotInTable bool
}

var list = [Count]Field{
	RuntimeGGoid:                {Key: "runtime.g.goid"},
	RuntimeGM:                   {Key: "runtime.g.m"},
	RuntimeMCurg:                {Key: "runtime.m.curg"},
	RuntimeGParentGoid:          {Key: "runtime.g.parentGoid"},
	RequestMethod:               {Key: "net/http.Request.Method"},
	RequestURL:                  {Key: "net/http.Request.URL"},
	RequestProtoMajor:           {Key: "net/http.Request.ProtoMajor"},
	RequestProtoMinor:           {Key: "net/http.Request.ProtoMinor"},
	RequestHost:                 {Key: "net/http.Request.Host"},
	RequestRemoteAddr:           {Key: "net/http.Request.RemoteAddr"},
	RequestPattern:              {Key: "net/http.Request.Pattern"},
	RequestTLS:                  {Key: "net/http.Request.TLS"},
	URLScheme:                   {Key: "net/url.URL.Scheme"},
	URLHost:                     {Key: "net/url.URL.Host"},
	URLPath:                     {Key: "net/url.URL.Path"},
	URLRawQuery:                 {Key: "net/url.URL.RawQuery"},
	URLUser:                     {Key: "net/url.URL.User", NotInTable: true},
	ResponseStatus:              {Key: "net/http.response.status"},
	ResponseConn:                {Key: "net/http.response.conn"},
	ConnBufr:                    {Key: "net/http.conn.bufr"},
	BufioReaderBuf:              {Key: "bufio.Reader.buf"},
	BufioReaderR:                {Key: "bufio.Reader.r"},
	ClientResponseStatusCode:    {Key: "net/http.Response.StatusCode"},
	H2ResponseWriterRws:         {Key: "net/http.http2responseWriter.rws"},
	H2ResponseWriterStateStatus: {Key: "net/http.http2responseWriterState.status"},
	// grpc-go (module google.golang.org/grpc, in the table by grpc minor:
	// goexe/offsets_grpc_fields.txt) and the genproto status message it
	// carries (by protoc-gen-go generation).
	GRPCServerStreamStream: {Key: "google.golang.org/grpc/internal/transport.ServerStream.Stream"},
	GRPCStreamCtx:          {Key: "google.golang.org/grpc/internal/transport.Stream.ctx"},
	GRPCStreamMethod:       {Key: "google.golang.org/grpc/internal/transport.Stream.method"},
	GRPCHTTP2ServerPeer:    {Key: "google.golang.org/grpc/internal/transport.http2Server.peer"},
	GRPCPeerAddr:           {Key: "google.golang.org/grpc/peer.Peer.Addr"},
	GRPCPeerLocalAddr:      {Key: "google.golang.org/grpc/peer.Peer.LocalAddr"},
	GRPCStatusS:            {Key: "google.golang.org/grpc/internal/status.Status.s"},
	GRPCStatusProtoCode:    {Key: "google.golang.org/genproto/googleapis/rpc/status.Status.Code"},
	GRPCClientConnTarget:   {Key: "google.golang.org/grpc.ClientConn.target"},
	GRPCStatusErrorS:       {Key: "google.golang.org/grpc/internal/status.Error.s"},
	// Standard-library layouts the gRPC probes read: a peer's address, a
	// context value, a (swiss) map.
	TCPAddrIP:        {Key: "net.TCPAddr.IP"},
	TCPAddrPort:      {Key: "net.TCPAddr.Port"},
	ValueCtxVal:      {Key: "context.valueCtx.val"},
	SwissMapDirPtr:   {Key: "internal/runtime/maps.Map.dirPtr"},
	SwissMapDirLen:   {Key: "internal/runtime/maps.Map.dirLen"},
	SwissTableGroups: {Key: "internal/runtime/maps.table.groups"},
	// Not a field of its own: grpcserver's rule moves ServerStream.Stream's
	// offset here when the stream is embedded by pointer (grpc v1.69-v1.76).
	GRPCServerStreamStreamPtr: {Key: "google.golang.org/grpc/internal/transport.ServerStream.StreamPtr", NotInTable: true},
	// Older grpc-go: the transport's addresses as fields of their own
	// (before v1.60; a peer.Peer from v1.60), status.Error holding the
	// status message itself (before v1.40; a *Status from v1.40).
	GRPCHTTP2ServerRemoteAddr: {Key: "google.golang.org/grpc/internal/transport.http2Server.remoteAddr"},
	GRPCHTTP2ServerLocalAddr:  {Key: "google.golang.org/grpc/internal/transport.http2Server.localAddr"},
	GRPCStatusErrorE:          {Key: "google.golang.org/grpc/internal/status.Error.e"},
	ConnRwc:                   {Key: "net/http.conn.rwc"},
	PersistConnConn:           {Key: "net/http.persistConn.conn"},
	// database/sql (the sqlclient probe). DWARF, else sqlclient's rule
	// (the layouts are the same from Go 1.19 through 1.26).
	SQLDriverConnCi: {Key: "database/sql.driverConn.ci", NotInTable: true},
	SQLTxDc:         {Key: "database/sql.Tx.dc", NotInTable: true},
	SQLTxDone:       {Key: "database/sql.Tx.done", NotInTable: true},
	// Drivers' error types: where the SQLSTATE (lib/pq) and the server's
	// error number (go-sql-driver/mysql) are. DWARF, else sqlclient's rule
	// by the driver's version.
	PQErrorCode:      {Key: "github.com/lib/pq.Error.Code", NotInTable: true},
	MySQLErrorNumber: {Key: "github.com/go-sql-driver/mysql.MySQLError.Number", NotInTable: true},
	// Not fields: unrelocated addresses sqlclient's rule records, of the
	// probed functions' entries (a PIE's load bias is the entry's runtime
	// address minus it) and of the drivers' error type descriptors (from
	// DWARF's DW_AT_go_runtime_type: unstripped binaries only).
	SQLQueryDCEntry:    {Key: "database/sql.(*DB).queryDC", NotInTable: true},
	SQLExecDCEntry:     {Key: "database/sql.(*DB).execDC", NotInTable: true},
	SQLBeginDCEntry:    {Key: "database/sql.(*DB).beginDC", NotInTable: true},
	SQLTxCommitEntry:   {Key: "database/sql.(*Tx).Commit", NotInTable: true},
	SQLTxRollbackEntry: {Key: "database/sql.(*Tx).rollback", NotInTable: true},
	PQErrorType:        {Key: "github.com/lib/pq.(*Error).type", NotInTable: true},
	MySQLErrorType:     {Key: "github.com/go-sql-driver/mysql.(*MySQLError).type", NotInTable: true},
	// go-redis: github.com/redis/go-redis/v9 and github.com/go-redis/redis/v8
	// (the client's options and address, a command's arguments); in the
	// offsets table by module version (every release).
	RedisV9BaseClientOpt: {Key: "github.com/redis/go-redis/v9.baseClient.opt"},
	RedisV9OptionsAddr:   {Key: "github.com/redis/go-redis/v9.Options.Addr"},
	RedisV9BaseCmdArgs:   {Key: "github.com/redis/go-redis/v9.baseCmd.args"},
	RedisV8BaseClientOpt: {Key: "github.com/go-redis/redis/v8.baseClient.opt"},
	RedisV8OptionsAddr:   {Key: "github.com/go-redis/redis/v8.Options.Addr"},
	RedisV8BaseCmdArgs:   {Key: "github.com/go-redis/redis/v8.baseCmd.args"},
	RedisV9OptionsDB:     {Key: "github.com/redis/go-redis/v9.Options.DB"},
	RedisV8OptionsDB:     {Key: "github.com/go-redis/redis/v8.Options.DB"},
	// net/http's bundled HTTP/2 server: the stream a response writer
	// belongs to, and the decoded header list of a request's HEADERS
	// frames (a slice of hpack.HeaderField, vendored into the standard
	// library), scanned for incoming trace context.
	H2ResponseWriterStateStream: {Key: "net/http.http2responseWriterState.stream"},
	H2StreamSc:                  {Key: "net/http.http2stream.sc"},
	H2StreamID:                  {Key: "net/http.http2stream.id"},
	H2MetaHeadersFrameFields:    {Key: "net/http.http2MetaHeadersFrame.Fields"},
	HpackHeaderFieldName:        {Key: "vendor/golang.org/x/net/http2/hpack.HeaderField.Name"},
	HpackHeaderFieldValue:       {Key: "vendor/golang.org/x/net/http2/hpack.HeaderField.Value"},
	HpackHeaderFieldSensitive:   {Key: "vendor/golang.org/x/net/http2/hpack.HeaderField.Sensitive"},
	// The same types in the standalone golang.org/x/net/http2 server
	// (module golang.org/x/net): DWARF, else the offsets table by x/net
	// release (every release from v0.1.0).
	XNetResponseWriterRws:         {Key: "golang.org/x/net/http2.responseWriter.rws"},
	XNetResponseWriterStateStream: {Key: "golang.org/x/net/http2.responseWriterState.stream"},
	XNetResponseWriterStateStatus: {Key: "golang.org/x/net/http2.responseWriterState.status"},
	XNetStreamSc:                  {Key: "golang.org/x/net/http2.stream.sc"},
	XNetStreamID:                  {Key: "golang.org/x/net/http2.stream.id"},
	XNetMetaHeadersFrameFields:    {Key: "golang.org/x/net/http2.MetaHeadersFrame.Fields"},
	XNetHpackHeaderFieldName:      {Key: "golang.org/x/net/http2/hpack.HeaderField.Name"},
	XNetHpackHeaderFieldValue:     {Key: "golang.org/x/net/http2/hpack.HeaderField.Value"},
	XNetHpackHeaderFieldSensitive: {Key: "golang.org/x/net/http2/hpack.HeaderField.Sensitive"},
	// github.com/segmentio/kafka-go (the kafkaproducer and kafkaconsumer
	// probes). DWARF, else the probes' rule (one layout in every v0.4).
	KafkaWriterTopic:         {Key: "github.com/segmentio/kafka-go.Writer.Topic", NotInTable: true},
	KafkaMessageTopic:        {Key: "github.com/segmentio/kafka-go.Message.Topic", NotInTable: true},
	KafkaMessagePartition:    {Key: "github.com/segmentio/kafka-go.Message.Partition", NotInTable: true},
	KafkaMessageOffset:       {Key: "github.com/segmentio/kafka-go.Message.Offset", NotInTable: true},
	KafkaMessageHeaders:      {Key: "github.com/segmentio/kafka-go.Message.Headers", NotInTable: true},
	KafkaReaderConfig:        {Key: "github.com/segmentio/kafka-go.Reader.config", NotInTable: true},
	KafkaReaderConfigGroupID: {Key: "github.com/segmentio/kafka-go.ReaderConfig.GroupID", NotInTable: true},
	// The producer's offsets (kafkaoffsets probe): which WriteMessages call
	// each message of a completed batch came from, and the batch's result.
	KafkaMessageKey:     {Key: "github.com/segmentio/kafka-go.Message.Key", NotInTable: true},
	KafkaMessageValue:   {Key: "github.com/segmentio/kafka-go.Message.Value", NotInTable: true},
	KafkaWriteBatchMsgs: {Key: "github.com/segmentio/kafka-go.writeBatch.msgs", NotInTable: true},
	KafkaWriteBatchErr:  {Key: "github.com/segmentio/kafka-go.writeBatch.err", NotInTable: true},
	// RequiredAcks none: the producer learns no offsets (kafka-go leaves the
	// messages' Offset as the caller set it); the batch's Writer.
	KafkaWriterRequiredAcks: {Key: "github.com/segmentio/kafka-go.Writer.RequiredAcks", NotInTable: true},
	KafkaPartitionWriterW:   {Key: "github.com/segmentio/kafka-go.partitionWriter.w", NotInTable: true},
	// github.com/IBM/sarama (the saramaproducer and saramaconsumer
	// probes). DWARF, else the probes' rule (one layout from
	// github.com/Shopify/sarama v1.38 through IBM/sarama v1.61).
	SaramaProducerMessageTopic:      {Key: "github.com/IBM/sarama.ProducerMessage.Topic", NotInTable: true},
	SaramaProducerMessageOffset:     {Key: "github.com/IBM/sarama.ProducerMessage.Offset", NotInTable: true},
	SaramaProducerMessagePartition:  {Key: "github.com/IBM/sarama.ProducerMessage.Partition", NotInTable: true},
	SaramaConsumerMessageTopic:      {Key: "github.com/IBM/sarama.ConsumerMessage.Topic", NotInTable: true},
	SaramaConsumerMessagePartition:  {Key: "github.com/IBM/sarama.ConsumerMessage.Partition", NotInTable: true},
	SaramaConsumerMessageOffset:     {Key: "github.com/IBM/sarama.ConsumerMessage.Offset", NotInTable: true},
	SaramaPartitionConsumerConsumer: {Key: "github.com/IBM/sarama.partitionConsumer.consumer", NotInTable: true},
	SaramaConsumerGroupConsumer:     {Key: "github.com/IBM/sarama.consumerGroup.consumer", NotInTable: true},
	SaramaConsumerGroupGroupID:      {Key: "github.com/IBM/sarama.consumerGroup.groupID", NotInTable: true},
	SaramaConsumerMessageHeaders:    {Key: "github.com/IBM/sarama.ConsumerMessage.Headers", NotInTable: true},
	SaramaRecordHeaderKey:           {Key: "github.com/IBM/sarama.RecordHeader.Key", NotInTable: true},
	SaramaRecordHeaderValue:         {Key: "github.com/IBM/sarama.RecordHeader.Value", NotInTable: true},
	// database/sql prepared statements and the pool a transaction or a
	// statement belongs to: DWARF, else sqlclient's rule (Go 1.19-1.26).
	SQLStmtDb:    {Key: "database/sql.Stmt.db", NotInTable: true},
	SQLStmtQuery: {Key: "database/sql.Stmt.query", NotInTable: true},
	SQLTxDb:      {Key: "database/sql.Tx.db", NotInTable: true},
	// Not fields: the unrelocated entries of (*Stmt).ExecContext and
	// QueryContext (for the load bias), like SQLQueryDCEntry.
	SQLStmtExecEntry:  {Key: "database/sql.(*Stmt).ExecContext", NotInTable: true},
	SQLStmtQueryEntry: {Key: "database/sql.(*Stmt).QueryContext", NotInTable: true},
	// pgx v5's errors (its stdlib driver returns them): PgError's SQLSTATE
	// and the error a PrepareError (v5.8 on) wraps. DWARF, else sqlclient's
	// rule by pgx's version.
	PgxPgErrorCode:     {Key: "github.com/jackc/pgx/v5/pgconn.PgError.Code", NotInTable: true},
	PgxPrepareErrorErr: {Key: "github.com/jackc/pgx/v5/pgconn.PrepareError.err", NotInTable: true},
	// gRPC stitching (bpf/common/grpc_stitch.h): a stream's HTTP/2 id, and
	// the client transport of a stream (Stream.ct before v1.69, then
	// ClientStream.ct, with ClientStream embedding *Stream (v1.69-v1.76)
	// or Stream (v1.77 on)) and its connection's addresses.
	GRPCStreamID:           {Key: "google.golang.org/grpc/internal/transport.Stream.id"},
	GRPCStreamCt:           {Key: "google.golang.org/grpc/internal/transport.Stream.ct"},
	GRPCClientStreamStream: {Key: "google.golang.org/grpc/internal/transport.ClientStream.Stream"},
	GRPCClientStreamCt:     {Key: "google.golang.org/grpc/internal/transport.ClientStream.ct"},
	// Not a field of its own: grpcclientstream's rule moves
	// ClientStream.Stream's offset here when the stream is embedded by
	// pointer (grpc v1.69-v1.76).
	GRPCClientStreamStreamPtr: {Key: "google.golang.org/grpc/internal/transport.ClientStream.StreamPtr", NotInTable: true},
	GRPCHTTP2ClientLocalAddr:  {Key: "google.golang.org/grpc/internal/transport.http2Client.localAddr"},
	GRPCHTTP2ClientRemoteAddr: {Key: "google.golang.org/grpc/internal/transport.http2Client.remoteAddr"},
	// Not a field of its own: where Stream.ct's *http2Client is, which
	// grpcclientstream's rule derives: ct itself (a pointer before v1.66),
	// or its data word (a ClientTransport interface, v1.66-v1.68).
	GRPCStreamCtPtr: {Key: "google.golang.org/grpc/internal/transport.Stream.ctPtr", NotInTable: true},
	// The client stream an attempt belongs to (grpcclient's streaming
	// spans end at the attempt's finish).
	GRPCCSAttemptCs: {Key: "google.golang.org/grpc.csAttempt.cs"},
	// From v1.84 ClientConn.NewStream returns the *clientStream wrapped in
	// a clientStreamWrapper (as its ClientStream interface).
	GRPCClientStreamWrapperClientStream: {Key: "google.golang.org/grpc.clientStreamWrapper.ClientStream"},
	// net/http's bundled HTTP/2 client and server: a stream's id and the
	// connection it is on (stitching HTTP/2 streams by 4-tuple and id).
	H2ClientStreamCc:  {Key: "net/http.http2clientStream.cc"},
	H2ClientStreamID:  {Key: "net/http.http2clientStream.ID"},
	H2ClientConnTconn: {Key: "net/http.http2ClientConn.tconn"},
	H2ServerConnConn:  {Key: "net/http.http2serverConn.conn"},
	// The same in golang.org/x/net/http2's own client and server: DWARF,
	// else the offsets table by x/net release.
	XNetClientStreamCc:  {Key: "golang.org/x/net/http2.clientStream.cc"},
	XNetClientStreamID:  {Key: "golang.org/x/net/http2.clientStream.ID"},
	XNetClientConnTconn: {Key: "golang.org/x/net/http2.ClientConn.tconn"},
	XNetServerConnConn:  {Key: "golang.org/x/net/http2.serverConn.conn"},
	// A sarama message's expectation channel: set when a SyncProducer
	// sent it (the async producer probe leaves those to the sync one).
	SaramaProducerMessageExpectation: {Key: "github.com/IBM/sarama.ProducerMessage.expectation", NotInTable: true},
	// A sarama message's headers ([]RecordHeader), searched for a
	// traceparent the application set, by the async producer probe.
	SaramaProducerMessageHeaders: {Key: "github.com/IBM/sarama.ProducerMessage.Headers", NotInTable: true},
	// Go's maps before the swiss tables (Go 1.19-1.23; absent from 1.24):
	// the map header, and the bucket of a map[string][]string (grpc-go's
	// metadata.MD, searched for the incoming trace context) as DWARF
	// describes it (bucket<K,V> is the linker's name for the compiler's
	// bucket type).
	HmapFlags:        {Key: "runtime.hmap.flags"},
	HmapB:            {Key: "runtime.hmap.B"},
	HmapBuckets:      {Key: "runtime.hmap.buckets"},
	HmapOldbuckets:   {Key: "runtime.hmap.oldbuckets"},
	MDBucketKeys:     {Key: "bucket<string,[]string>.keys"},
	MDBucketValues:   {Key: "bucket<string,[]string>.values"},
	MDBucketOverflow: {Key: "bucket<string,[]string>.overflow"},
}

// All returns every field, indexed by ID.
func All() [Count]Field { return list }

// String is the field's key.
func (id ID) String() string {
	if id >= Count {
		return fmt.Sprintf("fields.ID(%d)", uint32(id))
	}
	return list[id].Key
}

// CName is the enumerator of enum go_field: GO_FIELD_ and the key in upper
// case with every other character as '_' ("net/http.Request.URL" is
// GO_FIELD_NET_HTTP_REQUEST_URL).
func (id ID) CName() string {
	var b strings.Builder
	b.WriteString("GO_FIELD_")
	for _, c := range id.String() {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c - 'a' + 'A')
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteRune(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Unknown is a Table entry whose offset is not known.
const Unknown = ^uint64(0)

// Table holds one binary's offsets by field ID.
type Table [Count]uint64

// NewTable returns a table with every field Unknown.
func NewTable() Table {
	var t Table
	for i := range t {
		t[i] = Unknown
	}
	return t
}

// Known reports whether every one of ids has an offset.
func (t *Table) Known(ids ...ID) bool {
	for _, id := range ids {
		if t[id] == Unknown {
			return false
		}
	}
	return true
}

// OffsetFunc returns a field's offset from its struct name ("net/http.Request")
// and field name, as goexe.Executable.FieldOffset does.
type OffsetFunc func(structName, field string) (uint64, error)

// Resolve fills the entries of ids that lookup knows and leaves the others
// Unknown; the error joins what could not be resolved. A group of fields
// read together (all or nothing) is resolved with ResolveAll.
func (t *Table) Resolve(lookup OffsetFunc, ids ...ID) error {
	var errs []error
	for _, id := range ids {
		key := id.String()
		dot := strings.LastIndexByte(key, '.')
		v, err := lookup(key[:dot], key[dot+1:])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t[id] = v
	}
	return errors.Join(errs...)
}

// ResolveAll fills ids only if every one of them resolves: a probe never
// sees part of a group it reads together.
func (t *Table) ResolveAll(lookup OffsetFunc, ids ...ID) error {
	tmp := NewTable()
	if err := tmp.Resolve(lookup, ids...); err != nil {
		return err
	}
	for _, id := range ids {
		t[id] = tmp[id]
	}
	return nil
}
