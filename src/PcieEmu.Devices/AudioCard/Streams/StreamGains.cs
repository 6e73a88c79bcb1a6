using PcieEmu.Devices.Audio;
using PcieEmu.Devices.Audio.Dsp;
using PcieEmu.Devices.Models;
using PcieEmu.Pci.Registers;

namespace PcieEmu.Devices.AudioCard.Streams;

/// <summary>
/// A stream's per-channel volume or gain (spec §12): the SD_CHVOL registers as the guest writes them, and the
/// gains the scheduler applies, published as an immutable array so a transfer never sees half an update.
/// </summary>
internal sealed class StreamGains(StreamRegisterBlock registers, bool attenuateOnly)
{
    private ChannelGain[] _current = Unity();

    /// <summary>The gains in force (read on the scheduler, without the function lock).</summary>
    public ChannelGain[] Current => Volatile.Read(ref _current);

    /// <summary>SD_CHVOL&lt;c&gt; written (lock held). Playback attenuates only: a level above unity is stored as unity.</summary>
    public void Written(in RegisterWrite write)
    {
        ulong value = write.NewValue;
        if (attenuateOnly && (value & AudioSdFields.Chvol.Level) > ChannelGain.UnityLevel)
        {
            value = (value & ~AudioSdFields.Chvol.Level) | ChannelGain.UnityLevel;
            registers.Set(write.Register.Offset, value);
        }

        int channel = (int)((write.Register.Offset - registers.Offset(AudioSdRegister.Chvol)) / AudioSdBlock.ChvolStride);
        var gains = (ChannelGain[])_current.Clone();
        gains[channel] = new ChannelGain((byte)(value & AudioSdFields.Chvol.Level), (value & AudioSdFields.Chvol.Mute) != 0);
        Volatile.Write(ref _current, gains);
    }

    /// <summary>Every channel back to 0 dB (stream or card reset).</summary>
    public void Reset() => Volatile.Write(ref _current, Unity());

    /// <summary>SD_CAPS (spec §9.1): direction, most channels, formats and rates the stream offers.</summary>
    public static ulong CapsOf(StreamLayout layout, bool capture) => (capture ? 1UL : 0)
        | ((ulong)layout.MaxChannels << AudioSdFields.Caps.MaxchShift)
        | ((ulong)layout.Formats.Aggregate(0, (m, f) => SampleFormats.TryParseAlsaName(f, out var sf) ? m | (1 << (int)sf) : m) << AudioSdFields.Caps.FormatsShift)
        | ((ulong)layout.Rates.Aggregate(0, (m, r) => m | (1 << SampleFormats.RateCode(r))) << AudioSdFields.Caps.RatesShift);

    private static ChannelGain[] Unity() => [.. Enumerable.Repeat(ChannelGain.Unity, AudioSdBlock.ChvolCount)];
}
