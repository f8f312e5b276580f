/** Activities that do nothing: the benchmark measures the engine (also the `activitiesModule` partition threads import). */
export const step1 = async (n: number): Promise<number> => n;
export const step2 = async (n: number): Promise<number> => n;
export const step3 = async (n: number): Promise<number> => n;
