package lake

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/streamhub/streamhub/internal/awsconfig"
)

// Part sizes of S3Store's multipart uploads.
const (
	DefaultPartSize = 8 << 20
	// MinPartSize is S3's smallest part (all but the last).
	MinPartSize = 5 << 20
	// maxParts is S3's largest number of parts of one upload.
	maxParts = 10000
)

// S3Options locates a bucket and says how to reach it.
type S3Options struct {
	// Bucket is required.
	Bucket string
	// Region overrides the SDK's (AWS_REGION, the profile). With an Endpoint and no
	// region anywhere, us-east-1.
	Region string
	// Endpoint overrides the S3 endpoint (MinIO, LocalStack, gofakes3), an http(s) URL.
	// Empty means the SDK's, which honours AWS_ENDPOINT_URL_S3 and AWS_ENDPOINT_URL.
	Endpoint string
	// RoleARN is assumed through STS (credentials cached and refreshed) to write to a
	// bucket of another account.
	RoleARN string
	// PathStyle addresses the bucket in the URL path, as MinIO and LocalStack want.
	PathStyle bool
	// PartSize: a body of at least this many bytes is uploaded in parts of this size.
	// Default DefaultPartSize; at least MinPartSize.
	PartSize int64
	// AWS is the base configuration (tests); nil loads config.LoadDefaultConfig.
	AWS *aws.Config
}

// S3Store keeps objects in an S3 bucket; keys are object keys.
type S3Store struct {
	client   *s3.Client
	bucket   string
	partSize int64
	// maxKeys is the page size of List; 0 is S3's default (1000).
	maxKeys int32
	// checksums adds CRC32 checksums to multipart uploads; off when the configuration
	// asks for checksums only where required.
	checksums bool
}

var _ Store = (*S3Store)(nil)

// NewS3Store builds an S3 client from the SDK's default configuration (credential
// chain, AWS_REGION, AWS_ENDPOINT_URL_S3, …) or from o.AWS, with streamhub's HTTP client
// (internal/awshttp).
func NewS3Store(ctx context.Context, o S3Options) (*S3Store, error) {
	if o.Bucket == "" {
		return nil, errors.New("lake: s3 store needs a bucket")
	}
	part := o.PartSize
	switch {
	case part == 0:
		part = DefaultPartSize
	case part < MinPartSize:
		return nil, fmt.Errorf("lake: part size %d is below S3's minimum of %d", part, MinPartSize)
	}
	defaultRegion := ""
	if o.Endpoint != "" {
		defaultRegion = "us-east-1" // a local server still needs a region to sign with
	}
	cfg, err := awsconfig.Load(ctx, awsconfig.Options{Base: o.AWS, Region: o.Region, DefaultRegion: defaultRegion,
		RoleARN: o.RoleARN, SessionName: "streamhub-lake"})
	if err != nil {
		return nil, fmt.Errorf("lake: %w", err)
	}
	client := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.PathStyle
	})
	return &S3Store{
		client:    client,
		bucket:    o.Bucket,
		partSize:  part,
		checksums: client.Options().RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired,
	}, nil
}

// Client is the store's S3 client.
func (s *S3Store) Client() *s3.Client { return s.client }

// Bucket is the store's bucket.
func (s *S3Store) Bucket() string { return s.bucket }

// Put writes body at key: one PutObject below the part size, else a multipart upload
// (parts in order, aborted on any error). Either way the object appears whole or not
// at all.
func (s *S3Store) Put(ctx context.Context, key string, body []byte) error {
	if int64(len(body)) < s.partSize {
		_, err := s.client.PutObject(ctx, &s3.PutObjectInput{
			Bucket:        &s.bucket,
			Key:           &key,
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
		})
		if err != nil {
			return fmt.Errorf("lake: s3 put %s: %w", key, err)
		}
		return nil
	}
	return s.multipart(ctx, key, body)
}

func (s *S3Store) multipart(ctx context.Context, key string, body []byte) (err error) {
	create := &s3.CreateMultipartUploadInput{Bucket: &s.bucket, Key: &key}
	if s.checksums {
		create.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
	}
	up, err := s.client.CreateMultipartUpload(ctx, create)
	if err != nil {
		return fmt.Errorf("lake: s3 put %s: create multipart upload: %w", key, err)
	}
	defer func() {
		if err == nil {
			return
		}
		// Abort even when ctx is done, or the parts stay (and are billed) until a
		// lifecycle rule removes them.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, aerr := s.client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{
			Bucket: &s.bucket, Key: &key, UploadId: up.UploadId,
		}); aerr != nil {
			err = fmt.Errorf("%w (abort: %v)", err, aerr)
		}
	}()
	size := s.partSize
	if n := int64(len(body)); (n+size-1)/size > maxParts {
		size = (n + maxParts - 1) / maxParts
	}
	var parts []types.CompletedPart
	for off, num := int64(0), int32(1); off < int64(len(body)); off, num = off+size, num+1 {
		chunk := body[off:min(off+size, int64(len(body)))]
		in := &s3.UploadPartInput{
			Bucket:        &s.bucket,
			Key:           &key,
			UploadId:      up.UploadId,
			PartNumber:    aws.Int32(num),
			Body:          bytes.NewReader(chunk),
			ContentLength: aws.Int64(int64(len(chunk))),
		}
		var sum *string
		if s.checksums {
			var c [4]byte
			binary.BigEndian.PutUint32(c[:], crc32.ChecksumIEEE(chunk))
			sum = aws.String(base64.StdEncoding.EncodeToString(c[:]))
			in.ChecksumAlgorithm = types.ChecksumAlgorithmCrc32
			in.ChecksumCRC32 = sum
		}
		out, err := s.client.UploadPart(ctx, in)
		if err != nil {
			return fmt.Errorf("lake: s3 put %s: part %d: %w", key, num, err)
		}
		parts = append(parts, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(num), ChecksumCRC32: sum})
	}
	_, err = s.client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket:          &s.bucket,
		Key:             &key,
		UploadId:        up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	})
	if err != nil {
		return fmt.Errorf("lake: s3 put %s: complete multipart upload: %w", key, err)
	}
	return nil
}

// Get reads the object at key; a missing key is an error satisfying
// errors.Is(err, fs.ErrNotExist).
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("lake: s3 get %s: %w (%w)", key, fs.ErrNotExist, err)
		}
		return nil, fmt.Errorf("lake: s3 get %s: %w", key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("lake: s3 get %s: %w", key, err)
	}
	return b, nil
}

func notFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}

// List returns the keys under prefix, sorted (S3 lists in UTF-8 binary order, which is
// Go's string order), following ListObjectsV2's pages.
func (s *S3Store) List(ctx context.Context, prefix string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &prefix}
	if s.maxKeys > 0 {
		in.MaxKeys = aws.Int32(s.maxKeys)
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("lake: s3 list %q: %w", prefix, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys, nil
}
