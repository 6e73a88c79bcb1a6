using PcieEmu.Pci.Observation;
using PcieEmu.Tracing.Format;

namespace PcieEmu.Tracing.Replay;

/// <summary>
/// A record kept past the reader's next read (the unit being replayed, a record read ahead), in buffers that are
/// reused from record to record: replay copies nothing per record but units and the rare look-ahead.
/// </summary>
internal sealed class RecordCopy
{
    private byte[] _data = new byte[256];
    private byte[] _text = new byte[64];
    private byte[] _detail = new byte[64];
    private int _dataLength;
    private int _textLength = -1;
    private int _detailLength = -1;

    public long Index { get; private set; }

    public TraceEventKind Kind { get; private set; }

    public long Time { get; private set; }

    public ulong A { get; private set; }

    public ulong B { get; private set; }

    public ulong C { get; private set; }

    public ReadOnlySpan<byte> Data => _data.AsSpan(0, _dataLength);

    public bool IsUnit => TraceSchema.IsUnit(Kind);

    public void CopyFrom(in RecordView r)
    {
        Index = r.Index;
        Kind = r.Kind;
        Time = r.Time;
        A = r.A;
        B = r.B;
        C = r.C;
        _dataLength = Copy(r.Data, ref _data);
        _textLength = r.TextUtf8.IsEmpty && !r.TextIs("") ? -1 : Copy(r.TextUtf8, ref _text);
        _detailLength = r.DetailUtf8.IsEmpty && !r.DetailIs("") ? -1 : Copy(r.DetailUtf8, ref _detail);
    }

    /// <summary>The copy as a view (valid until the next <see cref="CopyFrom"/>).</summary>
    public RecordView View() => new(Index, Kind, Time, A, B, C, Data,
        _textLength < 0 ? default : _text.AsSpan(0, _textLength),
        _detailLength < 0 ? default : _detail.AsSpan(0, _detailLength));

    private static int Copy(ReadOnlySpan<byte> source, ref byte[] buffer)
    {
        if (buffer.Length < source.Length)
        {
            buffer = new byte[Math.Max(source.Length, buffer.Length * 2)];
        }

        source.CopyTo(buffer);
        return source.Length;
    }
}
