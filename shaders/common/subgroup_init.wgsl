#ifdef SUBGROUPS
    sg_size = sgs;
    sg_lane = sgl;
#endif
